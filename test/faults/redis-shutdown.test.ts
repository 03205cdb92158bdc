import t from 'tap'
import { startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'
import { hostPort, startTcpProxy, viaProxy } from '../helpers/tcp-proxy.ts'

t.test('a clustered node shuts down while Redis is unreachable, instead of hanging', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  const realRedis = redisUrl(t)
  const proxy = await startTcpProxy(hostPort(realRedis))
  t.teardown(() => proxy.close())
  const app = await startTestNode(t, { REDIS_URL: viaProxy(realRedis, proxy), REDIS_KEY_PREFIX: redisPrefix(t, realRedis) })
  const alice = await app.user('alice')
  const client = await app.mqtt(alice.token)
  t.ok(client.connected, 'a client is connected')

  proxy.cut('refuse')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const started = Date.now()
  const outcome = await Promise.race([
    app.node.close().then(() => 'closed'),
    new Promise((resolve) => setTimeout(() => resolve('still closing after 15 s'), 15_000)),
  ])
  t.equal(outcome, 'closed', `close() returned (in ${Date.now() - started} ms)`)
})
