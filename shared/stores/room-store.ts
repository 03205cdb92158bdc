import type { Kysely } from 'kysely'
import type { Database, RoomRow } from '../db/schema.ts'
import { toPublicUser, type PublicUser } from './user-store.ts'

/** A member of a room, with their role in it. */
export interface RoomMember extends PublicUser {
  role: 'owner' | 'member'
}

/** A room as its members see it. */
export interface RoomView {
  id: string
  type: 'direct' | 'group'
  name: string | null
  members: RoomMember[]
  lastMessageId: number
  createdAt: string
  lastMessageAt: string | null
}

/** Reads and writes `rooms` and `room_members`. */
export class RoomStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /**
   * Creates a room with its members in one transaction. For a direct room
   * with a `directKey` that already exists nothing is written and the
   * existing room's id is returned with `created: false`.
   */
  async create(room: { id: string; type: 'direct' | 'group'; name: string | null; directKey: string | null; createdBy: string; memberIds: string[] }): Promise<{ roomId: string; created: boolean }> {
    return this.#db.transaction().execute(async (tx) => {
      const inserted = await tx.insertInto('rooms')
        .values({ id: room.id, type: room.type, name: room.name, direct_key: room.directKey, created_by: room.createdBy })
        .onConflict((oc) => oc.column('direct_key').doNothing())
        .returning('id')
        .executeTakeFirst()
      if (!inserted) {
        const existing = await tx.selectFrom('rooms').select('id').where('direct_key', '=', room.directKey).executeTakeFirstOrThrow()
        return { roomId: existing.id, created: false }
      }
      await tx.insertInto('room_members')
        .values(room.memberIds.map((userId) => ({ room_id: room.id, user_id: userId, role: userId === room.createdBy ? 'owner' as const : 'member' as const })))
        .execute()
      return { roomId: room.id, created: true }
    })
  }

  /** The ids of a room's members (empty when the room does not exist). */
  async memberIds(roomId: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('room_members').select('user_id').where('room_id', '=', roomId).execute()
    return rows.map((r) => r.user_id)
  }

  /** The rooms `userId` belongs to, most recently active first. */
  async listForUser(userId: string): Promise<RoomView[]> {
    const rooms = await this.#db.selectFrom('rooms')
      .innerJoin('room_members', 'room_members.room_id', 'rooms.id')
      .selectAll('rooms')
      .where('room_members.user_id', '=', userId)
      .orderBy((eb) => eb.fn.coalesce('rooms.last_message_at', 'rooms.created_at'), 'desc')
      .execute()
    return this.#withMembers(rooms)
  }

  /** One room with its members, or undefined. */
  async get(roomId: string): Promise<RoomView | undefined> {
    const rooms = await this.#db.selectFrom('rooms').selectAll().where('id', '=', roomId).execute()
    return (await this.#withMembers(rooms))[0]
  }

  async #withMembers(rooms: RoomRow[]): Promise<RoomView[]> {
    if (rooms.length === 0) return []
    const members = await this.#db.selectFrom('room_members')
      .innerJoin('users', 'users.id', 'room_members.user_id')
      .select(['room_members.room_id', 'room_members.role', 'users.id', 'users.username', 'users.display_name'])
      .where('room_members.room_id', 'in', rooms.map((r) => r.id))
      .orderBy('room_members.joined_at').orderBy('users.username')
      .execute()
    return rooms.map((room) => ({
      id: room.id,
      type: room.type,
      name: room.name,
      members: members.filter((m) => m.room_id === room.id).map((m) => ({ ...toPublicUser(m), role: m.role })),
      lastMessageId: room.last_seq,
      createdAt: room.created_at.toISOString(),
      lastMessageAt: room.last_message_at?.toISOString() ?? null,
    }))
  }
}
