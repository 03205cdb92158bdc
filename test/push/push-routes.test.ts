import t from 'tap'
import webpush from 'web-push'
import { loadConfig } from '../../shared/config.ts'
import { startTestNode } from '../helpers/node.ts'
import { closedPort, Device, eventually } from '../helpers/push-service.ts'

/** One node with the default settings for the route tests below (each uses users of its own). */
const app = await startTestNode(t)

t.test('the VAPID public key: generated once and kept, or taken from config', async (t) => {
  const first = await app.http('GET', '/v1/push/vapid-public-key')
  t.equal(first.status, 200, 'public: no token needed')
  t.equal(Buffer.from(first.body.publicKey, 'base64url').length, 65, 'an uncompressed P-256 key')
  const row = await app.node.database.db.selectFrom('server_keys').select('value').where('name', '=', 'vapid_keys').executeTakeFirstOrThrow()
  t.equal(JSON.parse(row.value).publicKey, first.body.publicKey, 'kept in the database, where every node and restart finds it')

  const keys = webpush.generateVAPIDKeys()
  const configured = await startTestNode(t, { VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey })
  t.equal((await configured.http('GET', '/v1/push/vapid-public-key')).body.publicKey, keys.publicKey, 'the configured key wins')
  t.throws(() => loadConfig({ VAPID_PUBLIC_KEY: keys.publicKey }), /VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY/, 'one without the other is refused')
  t.throws(() => loadConfig({ VAPID_SUBJECT: 'ops@example.com' }), /VAPID_SUBJECT/, 'a subject must be mailto: or https:')
  t.notOk(configured.logLines.some((l) => l.includes(keys.privateKey)), 'the private key is never logged')
})

t.test('subscriptions: validated, one per device, the caller\'s own', async (t) => {
  const alice = await app.user('sub-alice')
  const bob = await app.user('sub-bob')
  const device = new Device('phone', 'https://push.example.com/send/abc')
  const body = device.subscription
  t.equal((await app.http('POST', '/v1/push/subscriptions', { body })).status, 401, 'a token is required')
  for (const [bad, why] of [
    [{ ...body, endpoint: 'http://push.example.com/x' }, 'a plain-http endpoint'],
    [{ ...body, keys: { ...body.keys, p256dh: Buffer.alloc(65, 4).subarray(1).toString('base64url') } }, 'a 64-byte key'],
    [{ ...body, keys: { ...body.keys, auth: 'not base64!' } }, 'an auth secret that is not base64url'],
    [{ endpoint: body.endpoint }, 'no keys'],
  ] as const) {
    const res = await app.http('POST', '/v1/push/subscriptions', { token: alice.token, body: bad })
    t.equal(res.body?.error?.code, 'validation_failed', `refused: ${why}`)
  }
  const created = await app.http('POST', '/v1/push/subscriptions', { token: alice.token, body })
  t.equal(created.status, 201)
  t.match(created.body.subscription, { id: /^[A-Za-z0-9_-]{12}$/, endpoint: body.endpoint })
  const again = await app.http('POST', '/v1/push/subscriptions', { token: alice.token, body })
  t.equal(again.body.subscription.id, created.body.subscription.id, 'the same endpoint is the same device')
  await app.http('POST', '/v1/push/subscriptions', { token: alice.token, body: new Device('laptop', 'https://push.example.com/send/def').subscription })
  t.equal((await app.http('GET', '/v1/push/subscriptions', { token: alice.token })).body.subscriptions.length, 2, 'several devices per user')

  await app.http('POST', '/v1/push/subscriptions', { token: bob.token, body })
  t.same((await app.http('GET', '/v1/push/subscriptions', { token: alice.token })).body.subscriptions.map((s: any) => s.endpoint), ['https://push.example.com/send/def'],
    'a device subscribed by another account is theirs now')
  const path = `/v1/push/subscriptions?endpoint=${encodeURIComponent(body.endpoint)}`
  t.equal((await app.http('DELETE', path, { token: alice.token })).status, 404, 'not alice\'s to remove')
  t.equal((await app.http('DELETE', path, { token: bob.token })).status, 204, 'removed by its owner')
  t.equal((await app.http('DELETE', path, { token: bob.token })).status, 404, 'and then gone')
})

t.test('notification settings: room mute for members, do-not-disturb for oneself', async (t) => {
  const alice = await app.user('alice')
  const bob = await app.user('bob')
  const outsider = await app.user('outsider')
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const path = `/v1/rooms/${roomId}/notifications`
  t.same((await app.http('GET', path, { token: alice.token })).body, { notifications: { roomId, muted: false } }, 'unmuted at first')
  t.same((await app.http('PUT', path, { token: alice.token, body: { muted: true } })).body, { notifications: { roomId, muted: true } })
  t.equal((await app.http('GET', path, { token: alice.token })).body.notifications.muted, true, 'muted')
  t.equal((await app.http('GET', path, { token: bob.token })).body.notifications.muted, false, 'for alice only')
  t.equal((await app.http('PUT', path, { token: outsider.token, body: { muted: true } })).body.error.code, 'room_not_found', 'not for non-members')
  t.equal((await app.http('PUT', path, { token: alice.token, body: { muted: 'yes' } })).body.error.code, 'validation_failed')

  t.same((await app.http('GET', '/v1/users/me/notifications', { token: bob.token })).body, { notifications: { doNotDisturb: false } })
  t.same((await app.http('PUT', '/v1/users/me/notifications', { token: bob.token, body: { doNotDisturb: true } })).body, { notifications: { doNotDisturb: true } })
  t.equal((await app.http('GET', '/v1/users/me/notifications', { token: bob.token })).body.notifications.doNotDisturb, true)
})

t.test('a delivery that runs out of tries stays in push_jobs as failed, for inspection; PUSH_PREVIEW=false', async (t) => {
  const node = await startTestNode(t, { PUSH_MAX_ATTEMPTS: '2', PUSH_RETRY_BASE_MS: '50', PUSH_POLL_MS: '100', PUSH_PREVIEW: 'false' })
  const reasons: string[] = []
  node.node.services.push.observer = { sent: () => reasons.push('sent'), failed: (reason) => reasons.push(reason) }
  const alice = await node.user('alice')
  const bob = await node.user('bob')
  await node.http('POST', '/v1/push/subscriptions', { token: bob.token, body: new Device('down', `https://127.0.0.1:${await closedPort()}/push/down`).subscription })
  const roomId = (await node.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  await node.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id: 'm1', body: 'hello' } })
  // A resend (same id) is acknowledged again but is not a new message: it adds nothing to the count.
  await node.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id: 'm1', body: 'hello' } })
  const failedJobs = () => node.node.database.db.selectFrom('push_jobs').selectAll().where('state', '=', 'failed').execute()
  t.ok(await eventually(async () => (await failedJobs()).length === 1), 'kept as failed')
  const [job] = await failedJobs()
  t.equal(job!.attempts, 2, 'after PUSH_MAX_ATTEMPTS tries')
  t.match(job!.last_error, /ECONNREFUSED/, 'with the last error')
  const payload = JSON.parse(job!.payload)
  t.match(payload, { roomId, senderId: alice.id, senderName: 'alice', count: 1 }, 'and what it would have said (the resend not counted)')
  t.notOk('preview' in payload, 'without the text, as PUSH_PREVIEW=false asks')
  t.equal(node.node.services.push.stats.failed, 1, 'counted for metrics')
  t.same(reasons, ['unavailable', 'unavailable'], 'each failed try reported to the metrics observer')
})
