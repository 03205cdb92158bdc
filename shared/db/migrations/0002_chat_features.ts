import { sql, type Kysely } from 'kysely'

/**
 * Chat features (issue 3): read positions, room admins, edits and deletes,
 * search grams, and when each user was last seen.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('last_seen_at', 'timestamptz').execute()

  await db.schema.alterTable('room_members').addColumn('last_read_seq', 'bigint', (c) => c.notNull().defaultTo(0)).execute()
  await sql`ALTER TABLE room_members DROP CONSTRAINT room_members_role_check`.execute(db)
  await sql`ALTER TABLE room_members ADD CONSTRAINT room_members_role_check CHECK (role IN ('owner', 'admin', 'member'))`.execute(db)

  await db.schema.alterTable('messages')
    .alterColumn('body', (c) => c.dropNotNull())
    .execute()
  await db.schema.alterTable('messages')
    .addColumn('edited_at', 'timestamptz')
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('search_grams', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .execute()
  await sql`CREATE INDEX messages_search ON messages USING gin (search_grams)`.execute(db)
}

/** Undoes {@link up}. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX messages_search`.execute(db)
  await db.schema.alterTable('messages').dropColumn('search_grams').dropColumn('deleted_at').dropColumn('edited_at').execute()
  await sql`DELETE FROM messages WHERE body IS NULL`.execute(db)
  await db.schema.alterTable('messages').alterColumn('body', (c) => c.setNotNull()).execute()
  await sql`ALTER TABLE room_members DROP CONSTRAINT room_members_role_check`.execute(db)
  await sql`UPDATE room_members SET role = 'member' WHERE role = 'admin'`.execute(db)
  await sql`ALTER TABLE room_members ADD CONSTRAINT room_members_role_check CHECK (role IN ('owner', 'member'))`.execute(db)
  await db.schema.alterTable('room_members').dropColumn('last_read_seq').execute()
  await db.schema.alterTable('users').dropColumn('last_seen_at').execute()
}
