import type { Redis } from 'ioredis'

/** The answer to one request for a token. */
export interface RateDecision {
  allowed: boolean
  /** When refused: how long until a token is available. */
  retryAfterMs: number
}

/** A token bucket per key: `burst` tokens at most, refilled at `perMinute` a minute. */
export interface RateLimit {
  perMinute: number
  burst: number
}

/** Takes one token from `key`'s bucket. */
export interface RateLimiter {
  take(key: string): Promise<RateDecision>
  /** Puts back one token taken from `key`'s bucket (never beyond `burst`): for an attempt that, once done, should not count. */
  refund(key: string): Promise<void>
}

/** Buckets kept before full (idle) ones are swept, so memory stays bounded. */
const SWEEP_AT = 10_000

/** Token buckets in this process: the limit of a single node. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #limit: RateLimit
  readonly #now: () => number
  readonly #buckets = new Map<string, { tokens: number; at: number }>()

  constructor(limit: RateLimit, now: () => number = Date.now) {
    this.#limit = limit
    this.#now = now
  }

  async take(key: string): Promise<RateDecision> {
    return this.takeNow(key)
  }

  /** {@link take}, synchronously, for callers that cannot wait (such as accepting a socket). */
  takeNow(key: string): RateDecision {
    const now = this.#now()
    const perMs = this.#limit.perMinute / 60_000
    const bucket = this.#buckets.get(key) ?? { tokens: this.#limit.burst, at: now }
    bucket.tokens = Math.min(this.#limit.burst, bucket.tokens + (now - bucket.at) * perMs)
    bucket.at = now
    if (!this.#buckets.has(key) && this.#buckets.size >= SWEEP_AT) this.#sweep(now, perMs)
    this.#buckets.set(key, bucket)
    if (bucket.tokens < 1) return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / perMs) }
    bucket.tokens -= 1
    return { allowed: true, retryAfterMs: 0 }
  }

  async refund(key: string): Promise<void> {
    const bucket = this.#buckets.get(key)
    if (bucket) bucket.tokens = Math.min(this.#limit.burst, bucket.tokens + 1)
  }

  #sweep(now: number, perMs: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * perMs >= this.#limit.burst) this.#buckets.delete(key)
    }
  }
}

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

/** Buckets in Redis when there is one (one limit for the whole cluster), else in this process (a limit per node). */
export function createRateLimiter(limit: RateLimit, redis?: Redis): RateLimiter {
  return redis ? new RedisRateLimiter(redis, limit) : new MemoryRateLimiter(limit)
}
