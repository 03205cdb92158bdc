import type { Redis } from 'ioredis'
import { ChatError } from '../errors.ts'
import { MemoryRateLimiter, RedisRateLimiter, type RateLimit, type RateLimiter } from './rate-limiter.ts'

/**
 * Bounds how often one user changes rooms: creating a group or a direct
 * room, renaming, adding or removing members, changing roles. Each change
 * notifies other people (`room_joined`, `room_renamed`, `members_added`...),
 * so without a bound one account could fill others' room lists and flood
 * their devices as fast as it can send requests. Leaving and deleting are
 * not counted: nobody is kept from getting out.
 */
export class RoomChangeLimit {
  readonly #limiter: RateLimiter

  constructor(limiter: RateLimiter) {
    this.#limiter = limiter
  }

  /** Spends one of `userId`'s room changes; `rate_limited` (with `retryAfterMs`) when none is left. */
  async spend(userId: string): Promise<void> {
    const decision = await this.#limiter.take(roomChangeKey(userId))
    if (!decision.allowed) {
      throw new ChatError('rate_limited', `Too many room changes; retry in ${Math.ceil(decision.retryAfterMs / 1000)} s.`, { retryAfterMs: decision.retryAfterMs })
    }
  }

  /** Gives back a change spent on a request that changed nothing (opening a direct room that already existed). */
  refund(userId: string): Promise<void> {
    return this.#limiter.refund(roomChangeKey(userId))
  }
}

function roomChangeKey(userId: string): string {
  return `room-changes:${userId}`
}

/** A {@link RoomChangeLimit} with its buckets in Redis when there is one (one limit for the cluster), else in this process. */
export function createRoomChangeLimit(limit: RateLimit, redis?: Redis): RoomChangeLimit {
  return new RoomChangeLimit(redis ? new RedisRateLimiter(redis, limit) : new MemoryRateLimiter(limit))
}
