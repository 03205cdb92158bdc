import { sql, type Kysely } from 'kysely'
import type { Database, UserRow } from '../db/schema.ts'

/** A user as other users see it. */
export interface PublicUser {
  id: string
  username: string
  displayName: string
}

/** The public fields of a user row. */
export function toPublicUser(row: Pick<UserRow, 'id' | 'username' | 'display_name'>): PublicUser {
  return { id: row.id, username: row.username, displayName: row.display_name }
}

/** Reads and writes `users`. */
export class UserStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /** Inserts a user; returns false when the username (case-insensitively) is taken. */
  async insert(user: { id: string; username: string; displayName: string; passwordHash: string }): Promise<boolean> {
    const result = await this.#db.insertInto('users')
      .values({ id: user.id, username: user.username, display_name: user.displayName, password_hash: user.passwordHash })
      .onConflict((oc) => oc.expression(sql`lower(username)`).doNothing())
      .executeTakeFirst()
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1
  }

  /** The row for a username, compared case-insensitively. */
  async findByUsername(username: string): Promise<UserRow | undefined> {
    return this.#db.selectFrom('users').selectAll().where(sql`lower(username)`, '=', username.toLowerCase()).executeTakeFirst()
  }

  /** The row for an id. */
  async findById(id: string): Promise<UserRow | undefined> {
    return this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
  }

  /** Which of `ids` belong to enabled users. */
  async existingIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set()
    const rows = await this.#db.selectFrom('users').select('id').where('id', 'in', ids).where('disabled', '=', false).execute()
    return new Set(rows.map((r) => r.id))
  }

  /** Up to `limit` enabled users whose username or display name contains `query`, by username. */
  async search(query: string, limit: number): Promise<PublicUser[]> {
    const pattern = `%${query.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
    const rows = await this.#db.selectFrom('users')
      .select(['id', 'username', 'display_name'])
      .where('disabled', '=', false)
      .where((eb) => eb.or([eb(sql`lower(username)`, 'like', pattern), eb(sql`lower(display_name)`, 'like', pattern)]))
      .orderBy('username')
      .limit(limit)
      .execute()
    return rows.map(toPublicUser)
  }
}
