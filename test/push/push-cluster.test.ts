import t from 'tap'
import { startTestNode } from '../helpers/node.ts'
import { Device, eventually } from '../helpers/push-service.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

const needs = { skip: onlyWithRedis().skip || onlyWithPostgres().skip }

t.test('a member connected to another node of the cluster counts as online: no push is queued for them', needs, async (t) => {
  const url = redisUrl(t)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url), PUSH_POLL_MS: '100' }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const sender = await nodeA.user('sender')
  const roaming = await nodeA.user('roaming')
  const away = await nodeA.user('away')
  for (const [user, name] of [[roaming, 'roaming'], [away, 'away']] as const) {
    // Endpoints nobody serves: this test looks at what gets queued, not at delivery.
    await nodeA.http('POST', '/v1/push/subscriptions', { token: user.token, body: new Device(name, `https://127.0.0.1:9/push/${name}`).subscription })
  }
  const roomId = (await nodeA.http('POST', '/v1/rooms', { token: sender.token, body: { type: 'group', name: 'g', memberIds: [roaming.id, away.id] } })).body.room.id
  await nodeB.mqtt(roaming.token)
  t.ok(await eventually(async () => (await nodeA.http('GET', `/v1/users/${roaming.id}/presence`, { token: sender.token })).body.presence.online), 'node A sees the member online')

  await nodeA.http('POST', `/v1/rooms/${roomId}/messages`, { token: sender.token, body: { id: 'm1', body: 'hello' } })
  const queuedFor = async () => (await nodeA.node.database.db.selectFrom('push_jobs').innerJoin('push_subscriptions as s', 's.id', 'push_jobs.subscription_id')
    .select('s.user_id').execute()).map((r) => r.user_id)
  t.ok(await eventually(async () => (await queuedFor()).includes(away.id)), 'a delivery is queued for the member connected nowhere')
  t.notOk((await queuedFor()).includes(roaming.id), 'none for the member connected to node B')
  const pending = await nodeA.node.database.db.selectFrom('push_pending').select('user_id').where('room_id', '=', roomId).execute()
  t.same(pending.map((p) => p.user_id), [away.id], 'nor any collapse state')
})
