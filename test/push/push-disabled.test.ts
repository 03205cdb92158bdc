import pg from 'pg'
import t from 'tap'
import { startPushNode } from '../helpers/push-node.ts'
import { eventually, FakePushService, makeCertificate } from '../helpers/push-service.ts'
import { onlyWithPostgres, postgresUrl } from '../helpers/services.ts'

// An admin disables a user: Web Push, with its message previews, must stop reaching them.
t.test('a disabled user gets no more push notifications', onlyWithPostgres(), async (t) => {
  const tls = makeCertificate(t.testdir())
  const service = new FakePushService(tls)
  await service.start()
  t.teardown(() => service.stop())
  const node = await startPushNode(t, tls.certFile, { PUSH_COLLAPSE_MS: '300', PUSH_POLL_MS: '200' })
  const [root, bob, carol] = [await node.user('root'), await node.user('bob'), await node.user('carol')]
  const device = service.device('bob')
  t.equal((await node.http('POST', '/v1/push/subscriptions', { token: bob.token, body: device.subscription })).status, 201)

  // Make root an admin in the node's own schema (what `npm run admin -- grant root` does).
  const db = new pg.Client({ connectionString: postgresUrl(t) })
  await db.connect()
  t.teardown(() => db.end())
  const { rows } = await db.query(`SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE $1`, [`t_${process.pid}_%`])
  await db.query(`UPDATE "${rows[0].schema_name}".users SET admin = true WHERE username = 'root'`)

  const room = (await node.http('POST', '/v1/rooms', { token: carol.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  t.equal((await node.http('PATCH', `/v1/admin/users/${bob.id}`, { token: root.token, body: { disabled: true } })).status, 200, 'bob disabled')
  t.equal((await node.http('GET', '/v1/users/me', { token: bob.token })).status, 401, 'his token is refused')

  const sent = await node.http('POST', `/v1/rooms/${room}/messages`, { token: carol.token, body: { id: 'secret-1', body: 'the secret plan' } })
  t.equal(sent.status, 201)
  const pushed = await eventually(() => service.received(device).length > 0, 4000)
  t.notOk(pushed, `no push reaches the disabled user (got ${JSON.stringify(service.received(device))})`)
})
