import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'

/** The queries of presence: `users.last_seen_at` and who shares a room with whom. */
export class PresenceStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /** Sets the user's `last_seen_at` to the database's now; answers it (undefined for an unknown user). */
  async markSeen(userId: string): Promise<Date | undefined> {
    const row = await this.#db.updateTable('users').set({ last_seen_at: sql<Date>`now()` })
      .where('id', '=', userId).returning('last_seen_at').executeTakeFirst()
    return row?.last_seen_at ?? undefined
  }

  /** The ids of everyone who shares at least one room with `userId`, the user excluded. */
  async coMemberIds(userId: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('room_members as mine')
      .innerJoin('room_members as other', 'other.room_id', 'mine.room_id')
      .select('other.user_id').distinct()
      .where('mine.user_id', '=', userId).where('other.user_id', '<>', userId)
      .execute()
    return rows.map((r) => r.user_id)
  }

  /**
   * The user's `last_seen_at` when `viewerId` may see it: the viewer is the
   * user, or the two share a room. Undefined otherwise, and for an unknown
   * user, so the caller cannot tell the two apart.
   */
  async seenBy(viewerId: string, userId: string): Promise<{ lastSeenAt: Date | null } | undefined> {
    const seen = await this.seenByMany(viewerId, [userId])
    return seen.has(userId) ? { lastSeenAt: seen.get(userId)! } : undefined
  }

  /** {@link seenBy} for several users in one query: those `viewerId` may see, by id. */
  async seenByMany(viewerId: string, userIds: readonly string[]): Promise<Map<string, Date | null>> {
    if (userIds.length === 0) return new Map()
    const rows = await this.#db.selectFrom('users as u').select(['u.id', 'u.last_seen_at'])
      .where('u.id', 'in', userIds)
      .where((eb) => eb.or([eb('u.id', '=', viewerId), eb.exists(eb.selectFrom('room_members as theirs')
        .innerJoin('room_members as mine', 'mine.room_id', 'theirs.room_id')
        .select(sql`1`.as('one'))
        .whereRef('theirs.user_id', '=', 'u.id').where('mine.user_id', '=', viewerId))]))
      .execute()
    return new Map(rows.map((r) => [r.id, r.last_seen_at]))
  }
}
