import { ChatError } from '../errors.ts'
import { newId } from '../ids.ts'
import type { RoomChangeLimit } from '../limits/room-change-limit.ts'
import type { Realtime } from '../realtime.ts'
import type { RoomStore, RoomView } from '../stores/room-store.ts'
import type { UserStore } from '../stores/user-store.ts'
import type { MembershipCache } from './membership-cache.ts'

/** Creating, listing and reading rooms; every read is for members only. */
export class RoomService {
  readonly #rooms: RoomStore
  readonly #users: UserStore
  readonly #members: MembershipCache
  readonly #maxMembers: number
  readonly #realtime: Realtime
  readonly #changes: RoomChangeLimit

  constructor(deps: { rooms: RoomStore; users: UserStore; members: MembershipCache; maxMembers: number; realtime: Realtime; changes: RoomChangeLimit }) {
    this.#rooms = deps.rooms
    this.#users = deps.users
    this.#members = deps.members
    this.#maxMembers = deps.maxMembers
    this.#realtime = deps.realtime
    this.#changes = deps.changes
  }

  /**
   * The one direct room of `userId` and `otherId`, created on first request
   * (`created` says which). Creating it spends one of `userId`'s room changes;
   * opening it again does not, even when none is left: the room is returned
   * as it is, whether or not the other user is still enabled.
   */
  async openDirect(userId: string, otherId: string): Promise<{ room: RoomView; created: boolean }> {
    if (otherId === userId) throw new ChatError('validation_failed', 'A direct room needs another user.')
    const directKey = [userId, otherId].sort().join(':')
    const existing = await this.#rooms.findDirect(directKey)
    if (existing) return { room: await this.#view(existing, userId), created: false }
    const { roomId, created } = await this.#changes.spend(userId, async () => {
      if (!(await this.#users.existingIds([otherId])).has(otherId)) throw new ChatError('user_not_found')
      return this.#rooms.create({ id: newId(), type: 'direct', name: null, directKey, createdBy: userId, memberIds: [userId, otherId] })
    }, (made) => made.created)
    if (created) await this.#announceJoined(roomId, [otherId], userId)
    return { room: await this.#view(roomId, userId), created }
  }

  /** A new group room owned by `ownerId` with the given members (the owner is always one); spends one of `ownerId`'s room changes. */
  async createGroup(ownerId: string, name: string, memberIds: readonly string[]): Promise<RoomView> {
    const wanted = [...new Set([ownerId, ...memberIds])]
    if (wanted.length > this.#maxMembers) throw new ChatError('room_full', `A room may have at most ${this.#maxMembers} members.`)
    const { roomId } = await this.#changes.spend(ownerId, async () => {
      const found = await this.#users.existingIds(wanted)
      const missing = wanted.filter((id) => !found.has(id))
      if (missing.length > 0) throw new ChatError('user_not_found', `No such user: ${missing.join(', ')}.`, { userIds: missing })
      return this.#rooms.create({ id: newId(), type: 'group', name, directKey: null, createdBy: ownerId, memberIds: wanted })
    })
    await this.#announceJoined(roomId, wanted.filter((id) => id !== ownerId), ownerId)
    return this.#view(roomId, ownerId)
  }

  /** Tells each new member on `user/<id>/rooms`, with the room as they see it, so their clients can subscribe. */
  async #announceJoined(roomId: string, userIds: readonly string[], byUserId: string): Promise<void> {
    const views = await this.#rooms.getForEach(roomId, [...userIds])
    for (const [userId, room] of views) this.#realtime.userEvent(userId, 'rooms', { type: 'room_joined', room, byUserId })
  }

  /** The rooms `userId` belongs to, most recently active first. */
  list(userId: string): Promise<RoomView[]> {
    return this.#rooms.listForUser(userId)
  }

  /** A room `userId` belongs to; `room_not_found` otherwise, so non-members learn nothing. */
  async get(userId: string, roomId: string): Promise<RoomView> {
    await this.requireMember(userId, roomId)
    return this.#view(roomId, userId)
  }

  /** Throws `room_not_found` unless `userId` is a member of `roomId`. */
  async requireMember(userId: string, roomId: string): Promise<void> {
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
  }

  async #view(roomId: string, viewerId: string): Promise<RoomView> {
    const room = await this.#rooms.get(roomId, viewerId)
    if (!room) throw new ChatError('room_not_found')
    return room
  }
}
