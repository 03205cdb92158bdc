import { sql } from 'kysely'
import t from 'tap'
import { startTestNode, sleep, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisPrefix, redisUrl } from '../helpers/services.ts'
import { hostPort, startTcpProxy, viaProxy } from '../helpers/tcp-proxy.ts'

/**
 * Polls `/readyz` until it answers 200 or 20 s pass; resolves with the last answer. With a short
 * READYZ_TIMEOUT_MS a single probe can time out on a loaded machine though the node is ready.
 */
async function readyz(app: TestNode): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const res = await app.http('GET', '/readyz')
    if (res.status === 200 || Date.now() > deadline) return res
    await sleep(50)
  }
}

t.test('healthz and readyz answer without a token; readyz names a missing migration and a node shutting down', async (t) => {
  const app = await startTestNode(t)
  const health = await app.http('GET', '/healthz')
  t.equal(health.status, 200)
  t.same(health.body, { status: 'ok' })
  t.equal(health.headers['cache-control'], 'no-store', 'probes are never cached')

  const ready = await readyz(app)
  t.equal(ready.status, 200, 'ready')
  t.same(ready.body, { ready: true, checks: { postgres: { ok: true }, migrations: { ok: true } } }, 'Postgres and migrations checked; no Redis when not clustered')

  const db = app.node.database.db
  await sql`DELETE FROM kysely_migration WHERE name = '0002_chat_features'`.execute(db)
  const unready = await app.http('GET', '/readyz')
  t.equal(unready.status, 503, 'a migration not recorded as applied: 503')
  t.equal(unready.body.ready, false)
  t.match(unready.body.checks.migrations, { ok: false, reason: /0002_chat_features/ }, 'the reason names it')
  t.same(unready.body.checks.postgres, { ok: true }, 'Postgres itself answers')
  await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('0002_chat_features', ${new Date().toISOString()})`.execute(db)
  t.equal((await readyz(app)).status, 200, 'ready again once it is')

  app.node.readiness.drain()
  const draining = await app.http('GET', '/readyz')
  t.equal(draining.status, 503, 'a node that is shutting down is not ready')
  t.same(draining.body.checks, { node: { ok: false, reason: 'shutting down' } })
  t.equal((await app.http('GET', '/healthz')).status, 200, 'but still alive')
})

t.test('readyz: 503 naming Postgres while it does not answer, 200 once it does', onlyWithPostgres(), async (t) => {
  const url = postgresUrl(t)!
  const proxy = await startTcpProxy(hostPort(url))
  t.teardown(() => proxy.close())
  const app = await startTestNode(t, { DATABASE_URL: viaProxy(url, proxy), READYZ_TIMEOUT_MS: '500', DATABASE_TIMEOUT_MS: '1500' })
  t.equal((await readyz(app)).status, 200, 'ready')
  proxy.cut('blackhole')
  const unready = await app.http('GET', '/readyz')
  t.equal(unready.status, 503, 'Postgres black-holed: 503, without hanging')
  t.match(unready.body.checks.postgres, { ok: false, reason: /timed out after 500 ms/ })
  t.equal((await app.http('GET', '/healthz')).status, 200, 'the process is still alive')
  proxy.restore()
  t.equal((await readyz(app)).status, 200, 'ready again once Postgres answers')
})

t.test('readyz: 503 naming Redis while it does not answer, 200 once it does', onlyWithRedis(), async (t) => {
  const url = redisUrl(t)
  const proxy = await startTcpProxy(hostPort(url))
  t.teardown(() => proxy.close())
  const app = await startTestNode(t, { REDIS_URL: viaProxy(url, proxy), REDIS_KEY_PREFIX: redisPrefix(t, url), READYZ_TIMEOUT_MS: '500' })
  const alice = await app.user('alice')
  const bob = await app.user('bob')
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const client = await app.mqtt(alice.token)
  await client.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  const ready = await readyz(app)
  t.equal(ready.status, 200, 'ready')
  t.same(ready.body.checks.redis, { ok: true }, 'Redis is checked when clustered')
  proxy.cut('blackhole')
  const unready = await app.http('GET', '/readyz')
  t.equal(unready.status, 503, 'Redis black-holed: 503')
  t.match(unready.body.checks.redis, { ok: false, reason: String })
  proxy.restore()
  t.equal((await readyz(app)).status, 200, 'ready again once Redis answers')
  // Routing over Redis pub/sub works again too. Waiting for it also keeps teardown from closing the node while
  // those connections still wait to reconnect: mqemitter-redis's close then waits for an 'end' that ioredis never emits.
  let routed = false
  for (let i = 0; i < 30 && !routed; i++) {
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000)
      client.once('message', () => { clearTimeout(timer); resolve(true) })
    })
    await client.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: `probe-${i}`, body: 'back?' }), { qos: 1 })
    routed = await arrived
  }
  t.ok(routed, 'messages are routed through Redis again')
})
