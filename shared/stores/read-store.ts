import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'

/** Unread messages of one room for one member. */
export interface UnreadCount {
  roomId: string
  unreadCount: number
}

/** Reads and moves members' read positions (`room_members.last_read_seq`). */
export class ReadStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /**
   * Moves the member's read position forward to `lastReadId` in one atomic
   * statement (`GREATEST`, and only up to the room's newest message), so
   * concurrent marks can never move it back. Answers the position after the
   * statement, whether it moved, and the room's newest message number.
   * Undefined when the user is not a member.
   */
  async advance(roomId: string, userId: string, lastReadId: number): Promise<{ lastReadId: number; moved: boolean; newestId: number } | undefined> {
    const { rows } = await sql<{ moved: boolean; last_read_seq: string; last_seq: string }>`
      WITH target AS (SELECT last_seq FROM rooms WHERE id = ${roomId}),
      moved AS (
        UPDATE room_members SET last_read_seq = ${lastReadId}
        WHERE room_id = ${roomId} AND user_id = ${userId}
          AND last_read_seq < ${lastReadId} AND ${lastReadId} <= (SELECT last_seq FROM target)
        RETURNING last_read_seq)
      SELECT (SELECT count(*) FROM moved) > 0 AS moved,
        coalesce((SELECT last_read_seq FROM moved), rm.last_read_seq) AS last_read_seq,
        (SELECT last_seq FROM target) AS last_seq
      FROM room_members rm WHERE rm.room_id = ${roomId} AND rm.user_id = ${userId}`.execute(this.#db)
    const row = rows[0]
    return row && { lastReadId: Number(row.last_read_seq), moved: row.moved, newestId: Number(row.last_seq) }
  }

  /**
   * The unread count of each of the user's rooms: other members' messages
   * after the user's read position that are not deleted. Computed when
   * asked, from committed rows, so it is right however sends and reads interleave.
   */
  async unreadCounts(userId: string): Promise<UnreadCount[]> {
    const { rows } = await sql<{ room_id: string; unread: string }>`
      SELECT rm.room_id, (SELECT count(*) FROM messages m
        WHERE m.room_id = rm.room_id AND m.seq > rm.last_read_seq AND m.sender_id <> rm.user_id AND m.deleted_at IS NULL) AS unread
      FROM room_members rm WHERE rm.user_id = ${userId}
      ORDER BY rm.room_id`.execute(this.#db)
    return rows.map((r) => ({ roomId: r.room_id, unreadCount: Number(r.unread) }))
  }
}
