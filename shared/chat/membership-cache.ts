import type { RoomStore } from '../stores/room-store.ts'

interface Entry {
  members: Promise<Set<string>>
  loadedAt: number
}

/** Bounds of the cache, from config. */
export interface MembershipCacheLimits {
  maxRooms: number
  ttlMs: number
}

/**
 * Each room's member set, read from Postgres once and then answered from
 * memory, so the publish and subscribe paths make no query per message.
 * Bounded (least recently loaded rooms are dropped first) and trusted for
 * `ttlMs`; code that changes a membership calls {@link invalidate}.
 * Concurrent look-ups of an uncached room share one query.
 */
export class MembershipCache {
  readonly #rooms: RoomStore
  readonly #limits: MembershipCacheLimits
  readonly #entries = new Map<string, Entry>()
  readonly #now: () => number

  constructor(rooms: RoomStore, limits: MembershipCacheLimits, now: () => number = Date.now) {
    this.#rooms = rooms
    this.#limits = limits
    this.#now = now
  }

  /** Rooms currently cached. */
  get size(): number {
    return this.#entries.size
  }

  /** Whether `userId` is a member of `roomId` (false when the room does not exist). */
  async isMember(roomId: string, userId: string): Promise<boolean> {
    return (await this.members(roomId)).has(userId)
  }

  /** The member ids of `roomId`. */
  members(roomId: string): Promise<Set<string>> {
    const cached = this.#entries.get(roomId)
    if (cached && this.#now() - cached.loadedAt < this.#limits.ttlMs) return cached.members
    const members = this.#rooms.memberIds(roomId).then((ids) => new Set(ids))
    const entry = { members, loadedAt: this.#now() }
    members.catch(() => {
      if (this.#entries.get(roomId) === entry) this.#entries.delete(roomId)
    })
    this.#entries.delete(roomId)
    this.#entries.set(roomId, entry)
    if (this.#entries.size > this.#limits.maxRooms) {
      this.#entries.delete(this.#entries.keys().next().value!)
    }
    return members
  }

  /** Forgets `roomId`, so the next look-up reads it again. */
  invalidate(roomId: string): void {
    this.#entries.delete(roomId)
  }
}
