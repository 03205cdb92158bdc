import { ChatError } from '../errors.ts'
import type { ClusterNote } from '../events.ts'
import type { RoomChangeLimit } from '../limits/room-change-limit.ts'
import type { Realtime } from '../realtime.ts'
import type { MembershipStore } from '../stores/membership-store.ts'
import type { RoomStore, RoomView } from '../stores/room-store.ts'
import type { MembershipCache } from './membership-cache.ts'
import { actorInGroup, memberOf, requireManager, successor } from './membership-rules.ts'

/**
 * How long a deletion waits between publishing `room_deleted` and clearing
 * the room's member set. The event is a QoS 1 publish, which the broker
 * routes only after an asynchronous session-store step (a Redis round trip
 * per persistent subscriber when clustered), while a cluster note is routed
 * at once; cleared any sooner, the member set would make every node drop
 * the event. The port reports no delivery, hence a wait rather than a signal.
 */
const DELETE_SETTLE_MS = 50

/**
 * Group room management: rename, add and remove members, roles, leave,
 * delete. Each change is decided and written under the room's row lock;
 * after the commit it is applied to this node's membership cache and
 * broadcast to the other nodes' before anyone is told, so a removed member
 * gets nothing further and cannot publish, on any node.
 * Direct rooms keep their two members: every change is refused with `direct_room`.
 * Renaming, adding, removing and role changes each spend one of the actor's
 * room changes ({@link RoomChangeLimit}); leaving and deleting do not.
 */
export class MembershipService {
  readonly #store: MembershipStore
  readonly #rooms: RoomStore
  readonly #cache: MembershipCache
  readonly #realtime: Realtime
  readonly #maxMembers: number
  readonly #changes: RoomChangeLimit

  constructor(deps: { store: MembershipStore; rooms: RoomStore; cache: MembershipCache; realtime: Realtime; maxMembers: number; changes: RoomChangeLimit }) {
    this.#store = deps.store
    this.#rooms = deps.rooms
    this.#cache = deps.cache
    this.#realtime = deps.realtime
    this.#maxMembers = deps.maxMembers
    this.#changes = deps.changes
  }

  /** Renames a group room (owner or admin); members get `room_renamed` unless the name is unchanged. */
  async rename(actorId: string, roomId: string, name: string): Promise<RoomView> {
    const renamed = await this.#changes.spend(actorId, () => this.#store.withRoomLocked(roomId, async (locked, tx) => {
      const { room, actor } = actorInGroup(locked, actorId)
      requireManager(actor, 'rename the room')
      if (room.name === name) return false
      await tx.rename(name)
      return true
    }), (changed) => changed)
    if (renamed) this.#realtime.roomEvent({ type: 'room_renamed', roomId, name, byUserId: actorId })
    return this.#view(roomId, actorId)
  }

  /**
   * Adds enabled users (owner or admin); current members are skipped.
   * Refused whole with `user_not_found` (naming the ids) or `room_full`.
   * Members get `members_added`, each new member `room_joined` on
   * `user/<id>/rooms` with the room as they see it.
   */
  async addMembers(actorId: string, roomId: string, userIds: readonly string[]): Promise<{ room: RoomView; addedUserIds: string[] }> {
    const added = await this.#changes.spend(actorId, () => this.#store.withRoomLocked(roomId, async (locked, tx) => {
      const { room, actor } = actorInGroup(locked, actorId)
      requireManager(actor, 'add members')
      const wanted = [...new Set(userIds)]
      const enabled = await tx.enabledUserIds(wanted)
      const missing = wanted.filter((id) => !enabled.has(id))
      if (missing.length > 0) throw new ChatError('user_not_found', `No such user: ${missing.join(', ')}.`, { userIds: missing })
      const fresh = wanted.filter((id) => !room.members.some((m) => m.userId === id))
      if (room.members.length + fresh.length > this.#maxMembers) throw new ChatError('room_full', `A room may have at most ${this.#maxMembers} members.`)
      await tx.addMembers(fresh)
      return fresh
    }), (fresh) => fresh.length > 0)
    if (added.length > 0) await this.#announceAdded(roomId, added, actorId)
    return { room: await this.#view(roomId, actorId), addedUserIds: added }
  }

  /**
   * Removes a member (owner or admin; an admin may remove only plain
   * members). Removing oneself is {@link leave}. The removed user gets
   * `room_left` (reason `removed`), the others `member_removed`.
   */
  async removeMember(actorId: string, roomId: string, userId: string): Promise<void> {
    if (userId === actorId) return this.leave(actorId, roomId)
    await this.#changes.spend(actorId, () => this.#store.withRoomLocked(roomId, async (locked, tx) => {
      const { room, actor } = actorInGroup(locked, actorId)
      requireManager(actor, 'remove members')
      const target = memberOf(room, userId)
      if (actor.role === 'admin' && target.role !== 'member') throw new ChatError('forbidden', 'An admin may not remove the owner or another admin.')
      await tx.removeMember(userId)
    }))
    this.#announceRemoved(roomId, userId, actorId, 'removed')
  }

  /**
   * Leaves a group room. An owner's ownership passes to the longest-standing
   * admin, else the longest-standing member (`member_role` says who); the
   * last member leaving deletes the room.
   */
  async leave(actorId: string, roomId: string): Promise<void> {
    const outcome = await this.#store.withRoomLocked(roomId, async (locked, tx) => {
      const { room, actor } = actorInGroup(locked, actorId)
      if (room.members.length === 1) {
        await tx.deleteRoom()
        return { deleted: true as const }
      }
      await tx.removeMember(actorId)
      const heir = actor.role === 'owner' ? successor(room, actorId) : undefined
      if (heir) await tx.setRole(heir.userId, 'owner')
      return { deleted: false as const, heirId: heir?.userId }
    })
    if (outcome.deleted) {
      this.#changeMembership({ roomId, added: [], removed: [], deleted: true })
      this.#realtime.userEvent(actorId, 'rooms', { type: 'room_left', roomId, reason: 'left', byUserId: actorId })
      return
    }
    this.#announceRemoved(roomId, actorId, actorId, 'left')
    if (outcome.heirId) this.#realtime.roomEvent({ type: 'member_role', roomId, userId: outcome.heirId, role: 'owner', byUserId: actorId })
  }

  /** Makes a member an admin or a plain member (owner only); members get `member_role` unless nothing changed. */
  async setRole(actorId: string, roomId: string, userId: string, role: 'admin' | 'member'): Promise<RoomView> {
    const changed = await this.#changes.spend(actorId, () => this.#store.withRoomLocked(roomId, async (locked, tx) => {
      const { room, actor } = actorInGroup(locked, actorId)
      if (actor.role !== 'owner') throw new ChatError('forbidden', 'Only the owner may change roles.')
      const target = memberOf(room, userId)
      if (target.role === 'owner') throw new ChatError('forbidden', 'The owner\'s role cannot be changed; it passes on only when the owner leaves.')
      if (target.role === role) return false
      await tx.setRole(userId, role)
      return true
    }), (roleChanged) => roleChanged)
    if (changed) this.#realtime.roomEvent({ type: 'member_role', roomId, userId, role, byUserId: actorId })
    return this.#view(roomId, actorId)
  }

  /**
   * Deletes a group room with its messages (owner only; with `asServiceAdmin`,
   * an admin of the service deletes any room, direct ones too, without being
   * a member). Subscribers get `room_deleted` while they are still members;
   * then the member set is cleared on every node, and each former member gets
   * `room_left` (reason `deleted`).
   */
  async deleteRoom(actorId: string, roomId: string, asServiceAdmin = false): Promise<void> {
    const memberIds = await this.#store.withRoomLocked(roomId, async (locked, tx) => {
      if (!asServiceAdmin) {
        const { actor } = actorInGroup(locked, actorId)
        if (actor.role !== 'owner') throw new ChatError('forbidden', 'Only the owner may delete the room.')
      } else if (!locked) throw new ChatError('room_not_found', 'No such room.')
      await tx.deleteRoom()
      return locked!.members.map((m) => m.userId)
    })
    this.#realtime.roomEvent({ type: 'room_deleted', roomId, byUserId: actorId })
    await new Promise((resolve) => setTimeout(resolve, DELETE_SETTLE_MS))
    this.#changeMembership({ roomId, added: [], removed: [], deleted: true })
    for (const userId of memberIds) this.#realtime.userEvent(userId, 'rooms', { type: 'room_left', roomId, reason: 'deleted', byUserId: actorId })
  }

  /** Applies a committed change to this node's cache at once and tells every other node. */
  #changeMembership(change: Omit<Extract<ClusterNote, { kind: 'membership' }>, 'kind'>): void {
    const note: ClusterNote = { kind: 'membership', ...change }
    this.#cache.apply(note)
    this.#realtime.broadcast(note)
  }

  async #announceAdded(roomId: string, userIds: string[], byUserId: string): Promise<void> {
    this.#changeMembership({ roomId, added: userIds, removed: [], deleted: false })
    this.#realtime.roomEvent({ type: 'members_added', roomId, userIds, byUserId })
    const views = await this.#rooms.getForEach(roomId, userIds)
    for (const [userId, room] of views) this.#realtime.userEvent(userId, 'rooms', { type: 'room_joined', room, byUserId })
  }

  /** The cache first, so the removed user's copy of `member_removed` (and of anything later) is already dropped. */
  #announceRemoved(roomId: string, userId: string, byUserId: string, reason: 'left' | 'removed'): void {
    this.#changeMembership({ roomId, added: [], removed: [userId], deleted: false })
    this.#realtime.roomEvent({ type: 'member_removed', roomId, userId, byUserId })
    this.#realtime.userEvent(userId, 'rooms', { type: 'room_left', roomId, reason, byUserId })
  }

  async #view(roomId: string, viewerId: string): Promise<RoomView> {
    const room = await this.#rooms.get(roomId, viewerId)
    if (!room) throw new ChatError('room_not_found')
    return room
  }
}
