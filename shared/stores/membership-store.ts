import type { Kysely, Transaction } from 'kysely'
import type { Database, MemberRole } from '../db/schema.ts'

/** A member as the membership rules see them. */
export interface MemberRecord {
  userId: string
  role: MemberRole
}

/** A room read under its row lock, with its members longest-standing first. */
export interface LockedRoom {
  id: string
  type: 'direct' | 'group'
  name: string | null
  members: MemberRecord[]
}

/** What may be read and written while a room is locked; it all commits, or not, with the lock's transaction. */
export interface RoomTransaction {
  /** Which of `userIds` belong to enabled users. */
  enabledUserIds(userIds: readonly string[]): Promise<Set<string>>
  rename(name: string): Promise<void>
  /** Adds users as plain members. */
  addMembers(userIds: readonly string[]): Promise<void>
  removeMember(userId: string): Promise<void>
  setRole(userId: string, role: MemberRole): Promise<void>
  /** Deletes the room; its members go with it (foreign keys cascade) and its messages (a trigger, migration 0009). */
  deleteRoom(): Promise<void>
}

/** Membership changes of `rooms` and `room_members`, each under the room's row lock. */
export class MembershipStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /**
   * Runs `change` in one transaction holding `roomId`'s row lock (`FOR NO
   * KEY UPDATE`, the lock message commits take), so the member list and
   * roles `change` decides on cannot move under it: concurrent changes of
   * one room, from any node, go one at a time. `room` is undefined when the
   * room does not exist. A throw rolls everything back.
   */
  async withRoomLocked<T>(roomId: string, change: (room: LockedRoom | undefined, tx: RoomTransaction) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('rooms').select(['id', 'type', 'name']).where('id', '=', roomId).forNoKeyUpdate().executeTakeFirst()
      const members = row
        ? await tx.selectFrom('room_members').select(['user_id', 'role']).where('room_id', '=', roomId).orderBy('joined_at').orderBy('user_id').execute()
        : []
      const room = row && { ...row, members: members.map((m) => ({ userId: m.user_id, role: m.role })) }
      return change(room, roomTransaction(tx, roomId))
    })
  }
}

function roomTransaction(tx: Transaction<Database>, roomId: string): RoomTransaction {
  return {
    async enabledUserIds(userIds) {
      if (userIds.length === 0) return new Set()
      const rows = await tx.selectFrom('users').select('id').where('id', 'in', userIds).where('disabled', '=', false).execute()
      return new Set(rows.map((r) => r.id))
    },
    async rename(name) {
      await tx.updateTable('rooms').set({ name }).where('id', '=', roomId).execute()
    },
    async addMembers(userIds) {
      if (userIds.length === 0) return
      await tx.insertInto('room_members').values(userIds.map((userId) => ({ room_id: roomId, user_id: userId, role: 'member' as const }))).execute()
    },
    async removeMember(userId) {
      await tx.deleteFrom('room_members').where('room_id', '=', roomId).where('user_id', '=', userId).execute()
    },
    async setRole(userId, role) {
      await tx.updateTable('room_members').set({ role }).where('room_id', '=', roomId).where('user_id', '=', userId).execute()
    },
    async deleteRoom() {
      await tx.deleteFrom('rooms').where('id', '=', roomId).execute()
    },
  }
}
