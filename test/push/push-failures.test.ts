import t from 'tap'
import { startPushNode } from '../helpers/push-node.ts'
import { eventually, FakePushService, makeCertificate, type Device } from '../helpers/push-service.ts'

/** What push services answer and how they fail: gone subscriptions, outages, refusals, slowness. */
const tls = makeCertificate(t.testdir())
const service = new FakePushService(tls)
await service.start()
t.teardown(() => service.stop())
const node = await startPushNode(t, tls.certFile, {
  PUSH_COLLAPSE_MS: '1000', PUSH_POLL_MS: '200', PUSH_RETRY_BASE_MS: '200', PUSH_MAX_ATTEMPTS: '4', PUSH_TIMEOUT_MS: '20000',
})

async function subscribe(at: FakePushService, user: { token: string }, name: string): Promise<Device> {
  const device = at.device(name)
  const res = await node.http('POST', '/v1/push/subscriptions', { token: user.token, body: device.subscription })
  if (res.status !== 201) throw new Error(`subscribe ${name}: ${res.status} ${JSON.stringify(res.body)}`)
  return device
}

/** A sender and a reader sharing a direct room. */
async function pair(name: string): Promise<{ sender: { id: string; token: string }; reader: { id: string; token: string }; roomId: string }> {
  const sender = await node.user(`${name}-sender`)
  const reader = await node.user(`${name}-reader`)
  const roomId = (await node.http('POST', '/v1/rooms', { token: sender.token, body: { type: 'direct', userId: reader.id } })).body.room.id
  return { sender, reader, roomId }
}

async function say(from: { token: string }, roomId: string, body: string): Promise<void> {
  const res = await node.http('POST', `/v1/rooms/${roomId}/messages`, { token: from.token, body: { id: `m-${Math.random()}`, body } })
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`)
}

/** The node's log lines with message `msg` that match `fields`. */
function logged(msg: string, fields: Record<string, unknown> = {}): any[] {
  return node.lines.map((l) => JSON.parse(l)).filter((e) => e.msg === msg && Object.entries(fields).every(([k, v]) => e[k] === v))
}

t.test('a 410 answer deletes that subscription and only that one', async (t) => {
  const { sender, reader, roomId } = await pair('gone')
  const stale = await subscribe(service, reader, 'gone-stale')
  const fresh = await subscribe(service, reader, 'gone-fresh')
  service.answers.set('gone-stale', 410)
  await say(sender, roomId, 'are you there?')
  t.ok(await eventually(() => service.received(fresh).length === 1), 'the live device got the push')
  t.ok(await eventually(async () => (await node.http('GET', '/v1/push/subscriptions', { token: reader.token })).body.subscriptions.length === 1), 'the gone one is deleted')
  const left = (await node.http('GET', '/v1/push/subscriptions', { token: reader.token })).body.subscriptions
  t.same(left.map((s: { endpoint: string }) => s.endpoint), [fresh.endpoint], 'the live one is kept')
  t.equal(service.requests.filter((r) => r.device === 'gone-stale').length, 1, 'the gone one was tried once, not retried')
})

t.test('a push service that is down, then up again, gets the notification once', async (t) => {
  const outage = new FakePushService(tls)
  await outage.start()
  t.teardown(() => outage.stop())
  const { sender, reader, roomId } = await pair('outage')
  const device = await subscribe(outage, reader, 'outage-device')
  await outage.stop()
  await say(sender, roomId, 'sent during the outage')
  t.ok(await eventually(() => logged('push delivery failed', { willRetry: true }).length >= 1), 'the node failed to reach it and will retry')
  await outage.start()
  t.ok(await eventually(() => outage.received(device).length === 1), 'delivered once the service is back')
  t.match(outage.received(device)[0], { count: 1, preview: 'sent during the outage' })
  // Barrier: a later push arriving alone shows the first was not delivered again meanwhile.
  await say(sender, roomId, 'after the outage')
  t.ok(await eventually(() => outage.received(device).length === 2), 'the next message gets its own push')
  t.same(outage.received(device).map((p) => p.preview), ['sent during the outage', 'after the outage'], 'each exactly once')
})

t.test('a delivery refused until it runs out of tries is kept as failed', async (t) => {
  const { sender, reader, roomId } = await pair('broken')
  await subscribe(service, reader, 'broken-device')
  service.answers.set('broken-device', 503)
  await say(sender, roomId, 'never lands')
  t.ok(await eventually(() => logged('push delivery failed', { willRetry: false }).length === 1, 15000), 'given up after its tries')
  t.equal(service.requests.filter((r) => r.device === 'broken-device').length, 4, 'PUSH_MAX_ATTEMPTS tries')
  t.equal(logged('push delivery failed', { willRetry: false })[0].attempts, 4)
})

t.test('a push service that never answers does not slow chat', async (t) => {
  const { sender, reader, roomId } = await pair('slow')
  await subscribe(service, reader, 'slow-device')
  service.hold('slow-device')
  t.teardown(() => service.release())
  const publisher = await node.mqtt(sender.token)
  await say(sender, roomId, 'first')
  t.ok(await eventually(() => service.requests.some((r) => r.device === 'slow-device')), 'the push request hangs at the service')
  for (let i = 0; i < 20; i++) {
    await publisher.publishAsync(`chat/${roomId}/${sender.id}`, JSON.stringify({ id: `slow-${i}`, body: `more ${i}` }), { qos: 1 })
  }
  const history = (await node.http('GET', `/v1/rooms/${roomId}/messages?limit=50`, { token: reader.token })).body.messages
  t.equal(history.length, 21, 'every publish was acknowledged and stored while the push hung')
  t.ok(service.held >= 1, 'while the first push request still hung')
})
