import type { Redis } from 'ioredis'

/** How long the limiters wait for Redis, and how long they stop asking after it failed them. */
export interface RedisLinkTiming {
  /** Longest wait for an answer before a node's own buckets decide. */
  answerMs: number
  /** After Redis failed or was late, how long the node's own buckets decide without asking it. */
  pauseMs: number
}

const DEFAULT_TIMING: RedisLinkTiming = { answerMs: 1000, pauseMs: 5000 }

/**
 * The rate limiters' way to Redis, one per node and shared by all its
 * limiters: whether Redis answers them is one state, so a Redis gone
 * silent costs the node one wait per pause, not one per limiter and
 * request. Redis is asked only while the connection is ready and no pause
 * is running.
 */
export class RedisLink {
  readonly redis: Redis
  readonly #timing: RedisLinkTiming
  #pausedUntil = 0

  constructor(redis: Redis, timing: RedisLinkTiming = DEFAULT_TIMING) {
    this.redis = redis
    this.#timing = timing
  }

  /** Whether to ask Redis now. */
  get answers(): boolean {
    return this.redis.status === 'ready' && Date.now() >= this.#pausedUntil
  }

  /**
   * `request`'s answer, or a rejection once it fails or takes longer than
   * `answerMs`; either starts a pause. A request given up on is not
   * cancelled: ioredis may still run it later, which can only spend a token
   * twice (a stricter limit), never lift one.
   */
  ask<T>(request: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis did not answer in time')), this.#timing.answerMs)
      timer.unref() // never what keeps a stopping node alive
    })
    request.catch(() => {}) // a failure after the wait has nobody left to tell
    return Promise.race([request, late])
      .catch((err: unknown) => {
        this.#pausedUntil = Date.now() + this.#timing.pauseMs
        throw err
      })
      .finally(() => clearTimeout(timer))
  }
}
