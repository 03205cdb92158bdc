import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { MemoryRateLimiter, RedisRateLimiter } from '../../shared/limits/rate-limiter.ts'
import { onlyWithRedis, redisUrl } from '../helpers/services.ts'

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
