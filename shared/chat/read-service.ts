import { ChatError } from '../errors.ts'
import type { Realtime } from '../realtime.ts'
import type { ReadStore, UnreadCount } from '../stores/read-store.ts'
import type { MembershipCache } from './membership-cache.ts'

/** Read positions, receipts and unread counts. */
export class ReadService {
  readonly #store: ReadStore
  readonly #members: MembershipCache
  readonly #realtime: Realtime

  constructor(deps: { store: ReadStore; members: MembershipCache; realtime: Realtime }) {
    this.#store = deps.store
    this.#members = deps.members
    this.#realtime = deps.realtime
  }

  /**
   * Marks `roomId` read up to message `lastReadId`. The position only moves
   * forward: an older id leaves it where it is (and is answered with the
   * stored position); an id beyond the room's newest message is refused.
   * When it moves, the room's members get a `read` receipt.
   */
  async markRead(userId: string, roomId: string, lastReadId: number): Promise<{ roomId: string; lastReadId: number }> {
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
    const result = await this.#store.advance(roomId, userId, lastReadId)
    if (!result) throw new ChatError('room_not_found')
    if (lastReadId > result.newestId) {
      throw new ChatError('validation_failed', `"lastReadId" ${lastReadId} is beyond the room's newest message (${result.newestId}).`, { newestId: result.newestId })
    }
    if (result.moved) this.#realtime.roomEvent({ type: 'read', roomId, userId, lastReadId: result.lastReadId })
    return { roomId, lastReadId: result.lastReadId }
  }

  /** Unread counts of all the user's rooms, and their total. */
  async unread(userId: string): Promise<{ rooms: UnreadCount[]; total: number }> {
    const rooms = await this.#store.unreadCounts(userId)
    return { rooms, total: rooms.reduce((sum, r) => sum + r.unreadCount, 0) }
  }
}
