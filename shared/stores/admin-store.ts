import { sql, type Kysely } from 'kysely'
import type { Database, UserRow } from '../db/schema.ts'

/**
 * The sender of system messages: a user row made by migration 0003, disabled
 * and never a member of any room. Clients tell system messages by this
 * `senderId` (docs/PROTOCOL.md).
 */
export const SYSTEM_USER_ID = '_mqchat_sys_'

/** A user as an admin sees it. */
export interface AdminUser {
  id: string
  username: string
  displayName: string
  admin: boolean
  disabled: boolean
  createdAt: string
  /** When the user's last connection closed; null if never connected over MQTT (or online since). */
  lastSeenAt: string | null
}

/** What `GET /v1/admin/stats` counts in the database. */
export interface StoredCounts {
  users: { total: number; disabled: number; admins: number }
  rooms: { total: number; direct: number; group: number }
  messages: number
}

type AdminRow = Pick<UserRow, 'id' | 'username' | 'display_name' | 'admin' | 'disabled' | 'created_at' | 'last_seen_at'>
const ADMIN_COLUMNS = ['id', 'username', 'display_name', 'admin', 'disabled', 'created_at', 'last_seen_at'] as const

function toAdminUser(row: AdminRow): AdminUser {
  return {
    id: row.id, username: row.username, displayName: row.display_name, admin: row.admin, disabled: row.disabled,
    createdAt: new Date(row.created_at).toISOString(), lastSeenAt: row.last_seen_at ? new Date(row.last_seen_at).toISOString() : null,
  }
}

/** Reads and writes what administration needs of `users`, and counts for the stats; never the system user. */
export class AdminStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /** Whether `userId` is an enabled admin. */
  async isAdmin(userId: string): Promise<boolean> {
    const row = await this.#db.selectFrom('users').select('id').where('id', '=', userId).where('admin', '=', true).where('disabled', '=', false).executeTakeFirst()
    return row !== undefined
  }

  /**
   * Up to `limit` users ordered by username (case-insensitively), after the
   * username `after` (lower-cased), whose username contains `query` (any
   * case); one more row is read to tell whether a further page exists.
   */
  async list(opts: { query?: string | undefined; after?: string | undefined; limit: number }): Promise<{ users: AdminUser[]; hasMore: boolean }> {
    let select = this.#db.selectFrom('users').select(ADMIN_COLUMNS).where('id', '<>', SYSTEM_USER_ID)
    if (opts.query) select = select.where(sql`lower(username)`, 'like', `%${opts.query.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    if (opts.after !== undefined) select = select.where(sql`lower(username)`, '>', opts.after)
    const rows = await select.orderBy(sql`lower(username)`).limit(opts.limit + 1).execute()
    return { users: rows.slice(0, opts.limit).map(toAdminUser), hasMore: rows.length > opts.limit }
  }

  /** One user by id; undefined for an unknown id (or the system user). */
  async get(userId: string): Promise<AdminUser | undefined> {
    if (userId === SYSTEM_USER_ID) return undefined
    const row = await this.#db.selectFrom('users').select(ADMIN_COLUMNS).where('id', '=', userId).executeTakeFirst()
    return row && toAdminUser(row)
  }

  /** Sets the flags given; the user after the change, or undefined for an unknown id (or the system user). */
  async update(userId: string, change: { disabled?: boolean | undefined; admin?: boolean | undefined }): Promise<AdminUser | undefined> {
    const set: { disabled?: boolean; admin?: boolean } = {}
    if (change.disabled !== undefined) set.disabled = change.disabled
    if (change.admin !== undefined) set.admin = change.admin
    if (userId === SYSTEM_USER_ID) return undefined
    if (Object.keys(set).length === 0) return this.get(userId)
    const row = await this.#db.updateTable('users').set(set).where('id', '=', userId).returning(ADMIN_COLUMNS).executeTakeFirst()
    return row && toAdminUser(row)
  }

  /** Makes the user with this username (any case) an admin, or not; undefined when there is none. */
  async setAdminByUsername(username: string, admin: boolean): Promise<AdminUser | undefined> {
    const row = await this.#db.updateTable('users').set({ admin })
      .where(sql`lower(username)`, '=', username.toLowerCase()).where('id', '<>', SYSTEM_USER_ID)
      .returning(ADMIN_COLUMNS).executeTakeFirst()
    return row && toAdminUser(row)
  }

  /** Users, rooms and messages in the database, in one statement (so one snapshot). */
  async counts(): Promise<StoredCounts> {
    const { rows } = await sql<Record<'users' | 'disabled' | 'admins' | 'direct' | 'grp' | 'messages', number | string>>`
      SELECT (SELECT count(*) FROM users WHERE id <> ${SYSTEM_USER_ID}) AS users,
        (SELECT count(*) FROM users WHERE id <> ${SYSTEM_USER_ID} AND disabled) AS disabled,
        (SELECT count(*) FROM users WHERE id <> ${SYSTEM_USER_ID} AND admin AND NOT disabled) AS admins,
        (SELECT count(*) FROM rooms WHERE type = 'direct') AS direct,
        (SELECT count(*) FROM rooms WHERE type = 'group') AS grp,
        (SELECT count(*) FROM messages) AS messages`.execute(this.#db)
    const n = Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)])) as Record<keyof (typeof rows)[0], number>
    return {
      users: { total: n.users, disabled: n.disabled, admins: n.admins },
      rooms: { total: n.direct + n.grp, direct: n.direct, group: n.grp },
      messages: n.messages,
    }
  }
}
