import { ChatError } from '../errors.ts'
import type { Realtime } from '../realtime.ts'
import type { MembershipCache } from './membership-cache.ts'

/** Entries kept before old ones are swept, so the throttle's memory stays bounded. */
const SWEEP_AT = 10_000

/**
 * Typing indicators: ephemeral, never stored, sent to the room's members at
 * QoS 0. Each user's signals in a room are passed on at most once per
 * `throttleMs` on this node (a typing client repeats its signal every few
 * seconds, so a dropped one costs nothing).
 */
export class TypingService {
  readonly #members: MembershipCache
  readonly #realtime: Realtime
  readonly #throttleMs: number
  readonly #now: () => number
  readonly #lastSent = new Map<string, number>()

  constructor(deps: { members: MembershipCache; realtime: Realtime; throttleMs: number; now?: () => number }) {
    this.#members = deps.members
    this.#realtime = deps.realtime
    this.#throttleMs = deps.throttleMs
    this.#now = deps.now ?? Date.now
  }

  /** Tells the room `userId` is typing; resolves false when the signal was throttled. */
  async signal(userId: string, roomId: string): Promise<boolean> {
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
    const key = `${roomId}\n${userId}`
    const now = this.#now()
    const last = this.#lastSent.get(key)
    if (last !== undefined && now - last < this.#throttleMs) return false
    if (this.#lastSent.size >= SWEEP_AT) this.#sweep(now)
    this.#lastSent.set(key, now)
    this.#realtime.roomEvent({ type: 'typing', roomId, userId })
    return true
  }

  #sweep(now: number): void {
    for (const [key, at] of this.#lastSent) if (now - at >= this.#throttleMs) this.#lastSent.delete(key)
  }
}
