import { MemoryRateLimiter, type RateDecision, type RateLimit, type RateLimiter } from './rate-limiter.ts'
import type { RedisLink } from './redis-link.ts'
import { RedisRateLimiter } from './redis-rate-limiter.ts'

/**
 * The cluster's buckets in Redis while Redis answers (see {@link RedisLink});
 * while it does not, buckets in this process, so that each node goes on
 * limiting on its own. A Redis outage thus neither stalls nor fails what is
 * limited (sends, REST requests, logins, room changes), and never lifts the
 * limits altogether: with N nodes, at most N times the limit gets through.
 * A refund goes where Redis's state says at the time, which around the
 * start or end of an outage may be the other bucket than the take's.
 */
export class ClusterRateLimiter implements RateLimiter {
  readonly #link: RedisLink
  readonly #shared: RedisRateLimiter
  readonly #local: MemoryRateLimiter

  constructor(link: RedisLink, limit: RateLimit) {
    this.#link = link
    this.#shared = new RedisRateLimiter(link.redis, limit)
    this.#local = new MemoryRateLimiter(limit)
  }

  async take(key: string): Promise<RateDecision> {
    if (!this.#link.answers) return this.#local.takeNow(key)
    return this.#link.ask(this.#shared.take(key)).catch(() => this.#local.takeNow(key))
  }

  async refund(key: string): Promise<void> {
    if (!this.#link.answers) return this.#local.refund(key)
    await this.#link.ask(this.#shared.refund(key)).catch(() => this.#local.refund(key))
  }
}

/** Buckets in Redis when there is a link to it (one limit for the whole cluster; see {@link ClusterRateLimiter} for outages), else in this process (a limit per node). */
export function createRateLimiter(limit: RateLimit, link?: RedisLink): RateLimiter {
  return link ? new ClusterRateLimiter(link, limit) : new MemoryRateLimiter(limit)
}
