import type { RedisLink } from './redis-link.ts'
import { ChatError } from '../errors.ts'
import { createRateLimiter } from './cluster-rate-limiter.ts'
import type { RateLimit, RateLimiter } from './rate-limiter.ts'

/**
 * Bounds how many REST requests one user makes with their token, over all
 * their devices. Reads are cheap one at a time, but each is a query (a
 * history page, a search, a sync), so without a bound one account could
 * keep the database busy for everyone. The limits on sending, on room
 * changes and on logins apply on top of this one.
 */
export class RequestLimit {
  readonly #limiter: RateLimiter

  constructor(limiter: RateLimiter) {
    this.#limiter = limiter
  }

  /** Counts one request of `userId`'s: `rate_limited` (with `retryAfterMs`) when none is left. */
  async take(userId: string): Promise<void> {
    const decision = await this.#limiter.take(requestKey(userId))
    if (!decision.allowed) {
      throw new ChatError('rate_limited', `Too many requests; retry in ${Math.ceil(decision.retryAfterMs / 1000)} s.`, { retryAfterMs: decision.retryAfterMs })
    }
  }
}

function requestKey(userId: string): string {
  return `requests:${userId}`
}

/** A {@link RequestLimit} with its buckets in Redis when there is a link to it (one limit for the cluster), else in this process. */
export function createRequestLimit(limit: RateLimit, link?: RedisLink): RequestLimit {
  return new RequestLimit(createRateLimiter(limit, link))
}
