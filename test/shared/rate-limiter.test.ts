import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { ClusterRateLimiter } from '../../shared/limits/cluster-rate-limiter.ts'
import { RedisLink } from '../../shared/limits/redis-link.ts'
import { MemoryRateLimiter } from '../../shared/limits/rate-limiter.ts'
import { RedisRateLimiter } from '../../shared/limits/redis-rate-limiter.ts'
import { waitUntil } from '../helpers/node.ts'
import { onlyWithRedis, redisUrl } from '../helpers/services.ts'
import { hostPort, startTcpProxy, viaProxy } from '../helpers/tcp-proxy.ts'

t.test('memory token bucket: a burst, then the refill rate', async (t) => {
  let now = 1_000_000
  const limiter = new MemoryRateLimiter({ perMinute: 60, burst: 3 }, () => now)
  const takes = async (n: number) => Promise.all(Array.from({ length: n }, () => limiter.take('alice')))
  t.same((await takes(4)).map((d) => d.allowed), [true, true, true, false], 'the burst of 3, then refused')
  t.equal((await limiter.take('alice')).retryAfterMs, 1000, 'one token a second: retry in 1000 ms')
  t.equal((await limiter.take('bob')).allowed, true, 'another key has its own bucket')
  now += 999
  t.equal((await limiter.take('alice')).allowed, false, 'still empty after 999 ms')
  now += 1
  t.equal((await limiter.take('alice')).allowed, true, 'a token after 1 s')
  now += 60_000
  t.same((await takes(4)).map((d) => d.allowed), [true, true, true, false], 'refills up to the burst, never beyond')
})

t.test('Redis token bucket is one bucket for every node', onlyWithRedis(), async (t) => {
  const url = redisUrl(t)
  const prefix = `mqchat-test:${randomBytes(4).toString('hex')}:`
  const nodeA = new Redis(url, { keyPrefix: prefix })
  const nodeB = new Redis(url, { keyPrefix: prefix })
  t.teardown(async () => {
    const keys = await nodeA.keys(`${prefix}*`)
    if (keys.length > 0) await nodeA.del(...keys.map((k) => k.slice(prefix.length)))
    await Promise.all([nodeA.quit(), nodeB.quit()])
  })
  const a = new RedisRateLimiter(nodeA, { perMinute: 6, burst: 4 })
  const b = new RedisRateLimiter(nodeB, { perMinute: 6, burst: 4 })
  const decisions = [await a.take('alice'), await b.take('alice'), await a.take('alice'), await b.take('alice'), await b.take('alice'), await a.take('alice')]
  t.same(decisions.map((d) => d.allowed), [true, true, true, true, false, false], 'four tokens shared by both nodes')
  t.ok(decisions[4]!.retryAfterMs > 9000 && decisions[4]!.retryAfterMs <= 10_000, `one token per 10 s: retry in ${decisions[4]!.retryAfterMs} ms`)
  t.equal((await b.take('bob')).allowed, true, 'bob has his own bucket')
  const ttl = await nodeA.pttl('rate:alice')
  t.ok(ttl > 0 && ttl <= 41_000, `the bucket key expires once it would be full again (${ttl} ms)`)
})

t.test('clustered limiters during a Redis outage: each node limits on its own, then shares again', onlyWithRedis(), async (t) => {
  const url = redisUrl(t)
  const prefix = `mqchat-test:${randomBytes(4).toString('hex')}:`
  const proxy = await startTcpProxy(hostPort(url))
  t.teardown(() => proxy.close())
  // Node A reaches Redis through the proxy (cut below); node B directly. No retries: a cut fails commands at once.
  const viaA = new Redis(viaProxy(url, proxy), { keyPrefix: prefix, maxRetriesPerRequest: 0 })
  const direct = new Redis(url, { keyPrefix: prefix })
  viaA.on('error', () => {})
  t.teardown(async () => {
    const keys = await direct.keys(`${prefix}*`)
    if (keys.length > 0) await direct.del(...keys.map((k) => k.slice(prefix.length)))
    viaA.disconnect()
    await direct.quit()
  })
  const limit = { perMinute: 1, burst: 3 }
  // Two limiters of node A share its link (as a node's message rate and request limit do); a pause of a minute.
  const linkA = new RedisLink(viaA, { answerMs: 500, pauseMs: 60_000 })
  const nodeA = new ClusterRateLimiter(linkA, limit)
  const otherOfNodeA = new ClusterRateLimiter(linkA, limit)
  const nodeB = new ClusterRateLimiter(new RedisLink(direct), limit)
  const allowed = async (limiter: ClusterRateLimiter, n: number, key = 'alice') => {
    const answers = []
    for (let i = 0; i < n; i++) answers.push((await limiter.take(key)).allowed)
    return answers
  }
  await waitUntil(() => viaA.status === 'ready' && direct.status === 'ready', 5000, 'both connections')
  t.same(await allowed(nodeA, 2), [true, true], 'node A takes two of the shared three')
  t.same(await allowed(nodeB, 2), [true, false], 'node B finds one left')

  proxy.cut('refuse')
  await waitUntil(() => viaA.status !== 'ready', 5000, 'node A to see Redis gone')
  t.same(await allowed(nodeA, 4), [true, true, true, false], 'Redis refused: node A limits on a bucket of its own, neither stalled nor unlimited')
  await nodeA.refund('alice')
  t.same(await allowed(nodeA, 2), [true, false], 'a refund meanwhile goes to that bucket')
  t.same(await allowed(nodeB, 1), [false], 'node B, still connected, keeps the shared bucket (empty)')

  t.same(await allowed(nodeB, 3, 'bob'), [true, true, true], 'meanwhile node B empties bob\'s shared bucket')
  proxy.restore()
  await waitUntil(() => viaA.status === 'ready', 10_000, 'node A to reconnect')
  t.same(await allowed(nodeA, 1, 'bob'), [false], 'Redis back: node A uses the shared bucket again (its own bob bucket is full)')

  t.same([...await allowed(nodeB, 3, 'carol'), ...await allowed(nodeB, 3, 'dave')], [true, true, true, true, true, true], 'node B empties carol\'s and dave\'s shared buckets')
  proxy.freeze()
  t.same(await allowed(nodeA, 4, 'carol'), [true, true, true, false], 'the link gone silent: no answer from Redis, so node A\'s own carol bucket decides, and limits')
  proxy.cut('refuse')
  await waitUntil(() => viaA.status !== 'ready', 5000, 'node A to drop the silent connection')
  proxy.restore()
  await waitUntil(() => viaA.status === 'ready', 10_000, 'node A to reconnect')
  t.same(await allowed(otherOfNodeA, 1, 'dave'), [true], 'Redis answers again, but node A\'s other limiter waits out the pause on its own bucket (the shared dave bucket is empty)')
})
