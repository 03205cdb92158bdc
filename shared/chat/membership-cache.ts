import type { RoomStore } from '../stores/room-store.ts'

type Change = { roomId: string; added: readonly string[]; removed: readonly string[]; deleted: boolean }

interface Entry {
  members: Promise<Set<string>>
  /** The member set for synchronous look-ups: the loaded one, or while a reload runs, the previous one. */
  loaded?: Set<string>
  loadedAt: number
  /** Changes applied while the load was in flight, to apply again to what it returns. */
  pending?: Change[]
}

function applyTo(members: Set<string>, change: Change): void {
  for (const userId of change.removed) members.delete(userId)
  for (const userId of change.added) members.add(userId)
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
 * `ttlMs`.
 * Concurrent look-ups of an uncached room share one query.
 */
export class MembershipCache {
  readonly #rooms: RoomStore
  readonly #limits: MembershipCacheLimits
  readonly #entries = new Map<string, Entry>()
  /**
   * Who was removed from each room, kept after the room's entry is dropped
   * (evicted, or never loaded here), so the synchronous check still refuses
   * them while the room is not loaded. Bounded like the entries.
   */
  readonly #removed = new Map<string, Set<string>>()
  readonly #now: () => number

  constructor(rooms: RoomStore, limits: MembershipCacheLimits, now: () => number = Date.now) {
    this.#rooms = rooms
    this.#limits = limits
    this.#now = now
  }

  /** Whether `userId` is a member of `roomId` (false when the room does not exist). */
  async isMember(roomId: string, userId: string): Promise<boolean> {
    return (await this.members(roomId)).has(userId)
  }

  /** The member ids of `roomId`. */
  members(roomId: string): Promise<Set<string>> {
    const cached = this.#entries.get(roomId)
    if (cached && this.#now() - cached.loadedAt < this.#limits.ttlMs) return cached.members
    const entry: Entry = { loadedAt: this.#now(), pending: [], members: this.#rooms.memberIds(roomId).then((ids) => {
      const members = new Set(ids)
      for (const change of entry.pending ?? []) applyTo(members, change)
      delete entry.pending
      return (entry.loaded = members)
    }) }
    // Until the reload answers, synchronous look-ups keep the previous (expired but maintained) set.
    if (cached?.loaded) entry.loaded = new Set(cached.loaded)
    const members = entry.members
    members.catch(() => {
      if (this.#entries.get(roomId) === entry) this.#entries.delete(roomId)
    })
    this.#store(roomId, entry)
    return members
  }

  /**
   * Applies a membership change at once, whether made on this node or
   * announced by another: a loaded member set is updated in place (so the
   * next publish or delivery already sees it), a load still in flight gets
   * the change applied to its answer too (it may have read the rows before
   * the change), and a deleted room becomes known to have no members.
   */
  apply(change: Change): void {
    const entry = this.#entries.get(change.roomId)
    if (change.deleted) {
      const none = new Set<string>()
      this.#store(change.roomId, { members: Promise.resolve(none), loaded: none, loadedAt: this.#now() })
      return
    }
    this.#recordRemovals(change)
    if (!entry) return
    if (entry.loaded) applyTo(entry.loaded, change)
    entry.pending?.push(change)
  }

  #recordRemovals(change: Change): void {
    const removed = this.#removed.get(change.roomId) ?? new Set<string>()
    applyTo(removed, { ...change, added: change.removed, removed: change.added })
    this.#removed.delete(change.roomId)
    if (removed.size === 0) return
    this.#removed.set(change.roomId, removed)
    if (this.#removed.size > this.#limits.maxRooms) this.#removed.delete(this.#removed.keys().next().value!)
  }

  /** Stores `entry` as the newest, dropping the least recently loaded room beyond the bound. */
  #store(roomId: string, entry: Entry): void {
    this.#entries.delete(roomId)
    this.#entries.set(roomId, entry)
    if (this.#entries.size > this.#limits.maxRooms) this.#entries.delete(this.#entries.keys().next().value!)
  }

  /** Whether `roomId`'s member set is loaded and still trusted: {@link isMember} would answer at once, with no query run or awaited. */
  isFresh(roomId: string): boolean {
    const entry = this.#entries.get(roomId)
    return entry !== undefined && entry.pending === undefined && this.#now() - entry.loadedAt < this.#limits.ttlMs
  }

  /**
   * Synchronous: true when the room's member set (however old) lacks
   * `userId`, or, while the room is not loaded here, when `userId` was
   * removed from it. For hooks that cannot wait.
   */
  knownNonMember(roomId: string, userId: string): boolean {
    const entry = this.#entries.get(roomId)
    // An unknown room is let through (its subscription was checked) unless the user was removed from it, and loaded for the next delivery.
    if (!entry) void this.members(roomId).catch(() => {})
    const loaded = entry?.loaded
    if (loaded) return !loaded.has(userId)
    return this.#removed.get(roomId)?.has(userId) ?? false
  }
}
