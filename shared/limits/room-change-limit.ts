import type { RedisLink } from './redis-link.ts'
import { ChatError } from '../errors.ts'
import { createRateLimiter } from './cluster-rate-limiter.ts'
import type { RateLimit, RateLimiter } from './rate-limiter.ts'

/**
 * Bounds how often one user changes rooms: creating a group or a direct
 * room, renaming, adding or removing members, changing roles. Each change
 * notifies other people (`room_joined`, `room_renamed`, `members_added`...),
 * so without a bound one account could fill others' room lists and flood
 * their devices as fast as it can send requests. Leaving and deleting are
 * not counted: nobody is kept from getting out; nor are refused requests
 * and requests that change nothing.
 */
export class RoomChangeLimit {
  readonly #limiter: RateLimiter

  constructor(limiter: RateLimiter) {
    this.#limiter = limiter
  }

  /**
   * Runs `change` as one of `userId`'s room changes: `rate_limited` (with
   * `retryAfterMs`) when none is left. The change is given back when `change`
   * throws (refused: not a member, no such user, room full...) or when
   * `changed` says it changed nothing (a rename to the same name, members
   * who were already in), since neither notifies anyone.
   */
  async spend<T>(userId: string, change: () => Promise<T>, changed: (result: T) => boolean = () => true): Promise<T> {
    const key = roomChangeKey(userId)
    const decision = await this.#limiter.take(key)
    if (!decision.allowed) {
      throw new ChatError('rate_limited', `Too many room changes; retry in ${Math.ceil(decision.retryAfterMs / 1000)} s.`, { retryAfterMs: decision.retryAfterMs })
    }
    let result: T
    try {
      result = await change()
    } catch (err) {
      await this.#limiter.refund(key).catch(() => {})
      throw err
    }
    // A refund that fails only leaves the change spent; the change itself is done and must be answered.
    if (!changed(result)) await this.#limiter.refund(key).catch(() => {})
    return result
  }
}

function roomChangeKey(userId: string): string {
  return `room-changes:${userId}`
}

/** A {@link RoomChangeLimit} with its buckets in Redis when there is a link to it (one limit for the cluster), else in this process. */
export function createRoomChangeLimit(limit: RateLimit, link?: RedisLink): RoomChangeLimit {
  return new RoomChangeLimit(createRateLimiter(limit, link))
}
