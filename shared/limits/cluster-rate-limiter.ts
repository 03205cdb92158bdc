import type { Redis } from 'ioredis'
import { MemoryRateLimiter, type RateDecision, type RateLimit, type RateLimiter } from './rate-limiter.ts'
import { RedisRateLimiter } from './redis-rate-limiter.ts'

/** Longest wait for Redis's answer before this process's own bucket decides. */
const REDIS_ANSWER_MS = 1000
/** After Redis failed to answer, how long the process's own buckets decide without asking it. */
const REDIS_PAUSE_MS = 5000

/**
 * The cluster's buckets in Redis while Redis answers; while it does not
 * (the connection is down, or a command failed or took over a second, then
 * for 5 s), buckets in this process, so that each node goes on limiting on
 * its own. A Redis outage thus neither stalls nor fails what is limited
 * (sends, REST requests, logins), and never lifts the limits altogether.
 */
export class ClusterRateLimiter implements RateLimiter {
  readonly #redis: Redis
  readonly #shared: RedisRateLimiter
  readonly #local: MemoryRateLimiter
  #pausedUntil = 0

  constructor(redis: Redis, limit: RateLimit) {
    this.#redis = redis
    this.#shared = new RedisRateLimiter(redis, limit)
    this.#local = new MemoryRateLimiter(limit)
  }

  async take(key: string): Promise<RateDecision> {
    if (!this.#redisAnswers()) return this.#local.takeNow(key)
    try {
      return await this.#answered(this.#shared.take(key))
    } catch {
      this.#pausedUntil = Date.now() + REDIS_PAUSE_MS
      return this.#local.takeNow(key)
    }
  }

  async refund(key: string): Promise<void> {
    if (!this.#redisAnswers()) return this.#local.refund(key)
    await this.#answered(this.#shared.refund(key)).catch(() => this.#local.refund(key))
  }

  #redisAnswers(): boolean {
    return this.#redis.status === 'ready' && Date.now() >= this.#pausedUntil
  }

  #answered<T>(request: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('Redis did not answer')), REDIS_ANSWER_MS) })
    request.catch(() => {}) // its failure after the timeout has nobody left to tell
    return Promise.race([request, late]).finally(() => clearTimeout(timer))
  }
}

/** Buckets in Redis when there is one (one limit for the whole cluster; see {@link ClusterRateLimiter} for outages), else in this process (a limit per node). */
export function createRateLimiter(limit: RateLimit, redis?: Redis): RateLimiter {
  return redis ? new ClusterRateLimiter(redis, limit) : new MemoryRateLimiter(limit)
}
