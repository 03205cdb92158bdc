import { createPublicKey } from 'node:crypto'
import { jwtVerify } from 'jose'
import t from 'tap'
import { startPushNode } from '../helpers/push-node.ts'
import { eventually, FakePushService, makeCertificate, type Device } from '../helpers/push-service.ts'

/**
 * Web Push end to end: a node process trusting a local HTTPS push service
 * (self-signed, through NODE_EXTRA_CA_CERTS); every payload is decrypted
 * with the device's own keys.
 */
const tls = makeCertificate(t.testdir())
const service = new FakePushService(tls)
await service.start()
t.teardown(() => service.stop())
const node = await startPushNode(t, tls.certFile, { PUSH_COLLAPSE_MS: '1500', PUSH_POLL_MS: '200', VAPID_SUBJECT: 'mailto:ops@example.com' })

async function subscribed(name: string): Promise<{ id: string; token: string; device: Device }> {
  const user = await node.user(name)
  const device = service.device(name)
  const res = await node.http('POST', '/v1/push/subscriptions', { token: user.token, body: device.subscription })
  if (res.status !== 201) throw new Error(`subscribe ${name}: ${res.status} ${JSON.stringify(res.body)}`)
  return { ...user, device }
}

async function group(owner: { token: string }, memberIds: string[]): Promise<string> {
  const res = await node.http('POST', '/v1/rooms', { token: owner.token, body: { type: 'group', name: 'the group', memberIds } })
  return res.body.room.id
}

async function say(from: { token: string }, roomId: string, body: string): Promise<void> {
  const res = await node.http('POST', `/v1/rooms/${roomId}/messages`, { token: from.token, body: { id: `m-${Math.random()}`, body } })
  if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`)
}

t.test('an offline member gets an encrypted, VAPID-signed push; the sender gets none', async (t) => {
  const alice = await subscribed('alice')
  const bob = await subscribed('bob')
  const room = (await node.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  await say(alice, room, 'hello bob, how are you?')
  t.ok(await eventually(() => service.received(bob.device).length === 1), 'bob got one push')
  t.same(service.received(bob.device)[0], {
    type: 'messages', roomId: room, roomName: null, roomType: 'direct', senderId: alice.id, senderName: 'alice', count: 1, lastMessageId: 1,
    preview: 'hello bob, how are you?',
  }, 'it names the room and sender and previews the message')
  t.equal(service.received(alice.device).length, 0, 'the sender got none')

  const request = service.requests.find((r) => r.device === 'bob')!
  t.equal(request.headers['content-encoding'], 'aes128gcm')
  const { publicKey } = (await node.http('GET', '/v1/push/vapid-public-key')).body
  const vapid = /^vapid t=([^,]+), k=(.+)$/.exec(String(request.headers['authorization']))
  t.equal(vapid?.[2], publicKey, 'signed with the key the API hands out')
  const raw = Buffer.from(publicKey, 'base64url')
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, format: 'jwk' })
  const { payload } = await jwtVerify(vapid![1]!, key, { audience: `https://127.0.0.1:${service.port}` })
  t.equal(payload.sub, 'mailto:ops@example.com', 'the VAPID token carries VAPID_SUBJECT')
})

t.test('a member who is online gets no push', async (t) => {
  const carol = await subscribed('carol')
  const dave = await subscribed('dave')
  const erin = await subscribed('erin')
  const room = await group(dave, [carol.id, erin.id])
  const connection = await node.mqtt(carol.token)
  await say(dave, room, 'who is here?')
  t.ok(await eventually(() => service.received(erin.device).length === 1), 'the offline member got one')
  t.equal(service.received(carol.device).length, 0, 'the online member got none')
  await connection.endAsync()
})

t.test('a muted room and do-not-disturb hold pushes back, and lifting them lets them through', async (t) => {
  const frank = await subscribed('frank')
  const grace = await subscribed('grace')
  const henry = await subscribed('henry')
  const room = await group(henry, [frank.id, grace.id])
  t.equal((await node.http('PUT', `/v1/rooms/${room}/notifications`, { token: frank.token, body: { muted: true } })).status, 200)
  t.equal((await node.http('PUT', '/v1/users/me/notifications', { token: grace.token, body: { doNotDisturb: true } })).status, 200)
  await say(henry, room, 'first')
  // A member with no setting, added now, shows when the pushes for the second message have gone out.
  const ivan = await subscribed('ivan')
  await node.http('POST', `/v1/rooms/${room}/members`, { token: henry.token, body: { userIds: [ivan.id] } })
  await say(henry, room, 'second')
  t.ok(await eventually(() => service.received(ivan.device).length === 1), 'a member with no setting got the second message')
  t.equal(service.received(frank.device).length, 0, 'the member who muted the room got nothing')
  t.equal(service.received(grace.device).length, 0, 'the member in do-not-disturb got nothing')

  await node.http('PUT', `/v1/rooms/${room}/notifications`, { token: frank.token, body: { muted: false } })
  await node.http('PUT', '/v1/users/me/notifications', { token: grace.token, body: { doNotDisturb: false } })
  await say(henry, room, 'third')
  t.ok(await eventually(() => service.received(frank.device).length === 1 && service.received(grace.device).length === 1), 'once lifted, both get the next one')
  t.match(service.received(frank.device)[0], { count: 1, preview: 'third' }, 'and only that message counts')
})

t.test('a burst collapses: one push per room per window, with the count', async (t) => {
  const judy = await subscribed('judy')
  const kate = await subscribed('kate')
  const room = await group(judy, [kate.id])
  for (let i = 1; i <= 6; i++) await say(judy, room, `burst ${i}`)
  t.ok(await eventually(() => service.received(kate.device).reduce((n, p) => n + p.count, 0) === 6), 'every message is counted')
  const pushes = service.received(kate.device)
  t.ok(pushes.length <= 2, `in at most two pushes (the first at once, the rest when the window ends): ${pushes.map((p) => p.count)}`)
  t.match(pushes.at(-1), { lastMessageId: 6, preview: 'burst 6' }, 'the last push shows the latest message')

  // A barrier: the next push (after another window) proves no third push for the burst came in between.
  await say(judy, room, 'after the burst')
  t.ok(await eventually(() => service.received(kate.device).length === pushes.length + 1), 'a later message gets a push of its own')
  t.match(service.received(kate.device).at(-1), { count: 1, preview: 'after the burst' })
})
