import { sql, type Kysely } from 'kysely'
import type { Database, MemberRole, MessageRow, RoomRow } from '../db/schema.ts'
import type { MessageEnvelope } from '../protocol.ts'
import { toEnvelope } from './envelope.ts'
import { toPublicUser, type PublicUser } from './user-store.ts'

/** A member of a room, with their role in it and how far they have read. */
export interface RoomMember extends PublicUser {
  role: MemberRole
  /** The member's read position (0: nothing read). */
  lastReadId: number
}

/** A room as one of its members (the viewer) sees it. */
export interface RoomView {
  id: string
  type: 'direct' | 'group'
  name: string | null
  members: RoomMember[]
  lastMessageId: number
  /** The newest message (its body null if deleted), or null in an empty room. */
  lastMessage: MessageEnvelope | null
  /** The viewer's unread count: others' undeleted messages after the viewer's read position. */
  unreadCount: number
  createdAt: string
  lastMessageAt: string | null
}

type RoomWithUnread = RoomRow & { unread: number }

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

  /** The id of the direct room with `directKey`, or undefined. */
  async findDirect(directKey: string): Promise<string | undefined> {
    const row = await this.#db.selectFrom('rooms').select('id').where('direct_key', '=', directKey).executeTakeFirst()
    return row?.id
  }

  /** The ids of a room's members (empty when the room does not exist). */
  async memberIds(roomId: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('room_members').select('user_id').where('room_id', '=', roomId).execute()
    return rows.map((r) => r.user_id)
  }

  /** The ids of the rooms `userId` belongs to. */
  async roomIdsOf(userId: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('room_members').select('room_id').where('user_id', '=', userId).orderBy('room_id').execute()
    return rows.map((r) => r.room_id)
  }

  /** The rooms `viewerId` belongs to, most recently active first. */
  listForUser(viewerId: string): Promise<RoomView[]> {
    return this.#views(viewerId)
  }

  /**
   * One room as each of `viewerIds` sees it (members not in the room are
   * left out): the room, its newest message and its members read once, each
   * viewer's unread count in one more query. Announcing a room to hundreds
   * of new members one {@link get} each read every member row once per new
   * member: 999 added took 12 s and 730 MB (an independent review).
   */
  async getForEach(roomId: string, viewerIds: string[]): Promise<Map<string, RoomView>> {
    const views = new Map<string, RoomView>()
    const { rows } = await sql<{ user_id: string; unread: number }>`
      SELECT rm.user_id, (SELECT count(*) FROM messages m
        WHERE m.room_id = rm.room_id AND m.seq > rm.last_read_seq AND m.sender_id <> rm.user_id AND m.deleted_at IS NULL)::int AS unread
      FROM room_members rm WHERE rm.room_id = ${roomId} AND rm.user_id = ANY(${viewerIds}::text[])`.execute(this.#db)
    if (rows.length === 0) return views
    const base = await this.get(roomId, rows[0]!.user_id)
    if (!base) return views
    for (const row of rows) views.set(row.user_id, { ...base, unreadCount: Number(row.unread) })
    return views
  }

  /** One room of `viewerId`'s, or undefined when it does not exist or the viewer is not a member. */
  async get(roomId: string, viewerId: string): Promise<RoomView | undefined> {
    return (await this.#views(viewerId, roomId))[0]
  }

  /**
   * The viewer's rooms (or the one room) with the viewer's unread count, in
   * three queries whatever the number of rooms: rooms, their newest
   * messages, their members.
   */
  async #views(viewerId: string, onlyRoomId?: string): Promise<RoomView[]> {
    const { rows: rooms } = await sql<RoomWithUnread>`
      SELECT r.*, (SELECT count(*) FROM messages m
        WHERE m.room_id = r.id AND m.seq > rm.last_read_seq AND m.sender_id <> rm.user_id AND m.deleted_at IS NULL)::int AS unread
      FROM rooms r JOIN room_members rm ON rm.room_id = r.id AND rm.user_id = ${viewerId}
      WHERE ${onlyRoomId ?? null}::text IS NULL OR r.id = ${onlyRoomId ?? null}
      ORDER BY coalesce(r.last_message_at, r.created_at) DESC, r.id`.execute(this.#db)
    if (rooms.length === 0) return []
    const roomIds = rooms.map((r) => r.id)
    const withMessages = rooms.filter((r) => Number(r.last_seq) > 0)
    const { rows: lastMessages } = await sql<MessageRow>`
      SELECT m.room_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.created_at, m.edited_at, m.deleted_at
      FROM messages m JOIN unnest(${withMessages.map((r) => r.id)}::text[], ${withMessages.map((r) => r.last_seq)}::bigint[]) AS k(room_id, seq)
        ON m.room_id = k.room_id AND m.seq = k.seq`.execute(this.#db)
    const members = await this.#db.selectFrom('room_members')
      .innerJoin('users', 'users.id', 'room_members.user_id')
      .select(['room_members.room_id', 'room_members.role', 'room_members.last_read_seq', 'users.id', 'users.username', 'users.display_name'])
      .where('room_members.room_id', 'in', roomIds)
      .orderBy('room_members.joined_at').orderBy('users.username')
      .execute()
    const lastByRoom = new Map(lastMessages.map((m) => [m.room_id, toEnvelope(m)]))
    const membersByRoom = new Map<string, RoomMember[]>(roomIds.map((id) => [id, []]))
    for (const m of members) membersByRoom.get(m.room_id)!.push({ ...toPublicUser(m), role: m.role, lastReadId: Number(m.last_read_seq) })
    return rooms.map((room) => ({
      id: room.id,
      type: room.type,
      name: room.name,
      members: membersByRoom.get(room.id)!,
      lastMessageId: Number(room.last_seq),
      lastMessage: lastByRoom.get(room.id) ?? null,
      unreadCount: Number(room.unread),
      createdAt: new Date(room.created_at).toISOString(),
      lastMessageAt: room.last_message_at ? new Date(room.last_message_at).toISOString() : null,
    }))
  }
}
