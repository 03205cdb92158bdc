import type { Redis } from 'ioredis'
import type { RateDecision, RateLimit, RateLimiter } from './rate-limiter.ts'

/**
 * The same bucket in Redis, updated atomically by one script on Redis's own
 * clock, so every node of a cluster draws from one bucket per key. The key
 * expires once the bucket would be full again.
 */
const TAKE_SCRIPT = `
local burst = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * per_ms)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / per_ms) + 1000)
return {allowed, retry}
`

/** Puts one token back into a bucket {@link TAKE_SCRIPT} keeps (refilling is left to the next take, from `at`). */
const REFUND_SCRIPT = `
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens then redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[1]), tokens + 1))) end
return 0
`

/** Token buckets shared by every node through Redis (keys `rate:<key>` under the connection's prefix). */
export class RedisRateLimiter implements RateLimiter {
  readonly #redis: Redis
  readonly #limit: RateLimit

  constructor(redis: Redis, limit: RateLimit) {
    this.#redis = redis
    this.#limit = limit
    if (!('takeRateToken' in redis)) redis.defineCommand('takeRateToken', { numberOfKeys: 1, lua: TAKE_SCRIPT })
    if (!('refundRateToken' in redis)) redis.defineCommand('refundRateToken', { numberOfKeys: 1, lua: REFUND_SCRIPT })
  }

  async take(key: string): Promise<RateDecision> {
    const take = (this.#redis as unknown as { takeRateToken(key: string, burst: number, perMs: number): Promise<[number, number]> }).takeRateToken
    const [allowed, retryAfterMs] = await take.call(this.#redis, `rate:${key}`, this.#limit.burst, this.#limit.perMinute / 60_000)
    return { allowed: allowed === 1, retryAfterMs }
  }

  async refund(key: string): Promise<void> {
    const refund = (this.#redis as unknown as { refundRateToken(key: string, burst: number): Promise<number> }).refundRateToken
    await refund.call(this.#redis, `rate:${key}`, this.#limit.burst)
  }
}
