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
