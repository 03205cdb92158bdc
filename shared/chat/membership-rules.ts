import { ChatError } from '../errors.ts'
import type { LockedRoom, MemberRecord } from '../stores/membership-store.ts'

/* Who may change a group room, decided on the room as read under its lock. */

/**
 * The acting member of a group room: `room_not_found` when the room does not
 * exist or the actor is not in it (one answer, so existence does not leak),
 * `direct_room` for a direct room.
 */
export function actorInGroup(room: LockedRoom | undefined, actorId: string): { room: LockedRoom; actor: MemberRecord } {
  const actor = room?.members.find((m) => m.userId === actorId)
  if (!room || !actor) throw new ChatError('room_not_found')
  if (room.type === 'direct') throw new ChatError('direct_room')
  return { room, actor }
}

/** Throws `forbidden` unless `actor` is the owner or an admin. */
export function requireManager(actor: MemberRecord, what: string): void {
  if (actor.role === 'member') throw new ChatError('forbidden', `Only the owner or an admin may ${what}.`)
}

/** The member `userId` of `room`; `user_not_found` when they are not one. */
export function memberOf(room: LockedRoom, userId: string): MemberRecord {
  const member = room.members.find((m) => m.userId === userId)
  if (!member) throw new ChatError('user_not_found', 'That user is not a member of this room.')
  return member
}

/** Who becomes owner when `leavingId` (the owner) leaves: the longest-standing admin, else the longest-standing member. */
export function successor(room: LockedRoom, leavingId: string): MemberRecord | undefined {
  const others = room.members.filter((m) => m.userId !== leavingId)
  return others.find((m) => m.role === 'admin') ?? others[0]
}
