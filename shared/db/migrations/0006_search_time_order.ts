import { sql, type Kysely } from 'kysely'

/**
 * Indexes in search order (newest first by time, room, number), so a search
 * can walk the newest messages of a room, or of all rooms, and stop once a
 * page is full (`shared/stores/search-store.ts`) instead of collecting every
 * message that holds a common word. Postgres reads a btree backwards for
 * the descending order.
 *
 * Building them locks `messages` against writes for as long as it takes
 * (seconds per million rows). On a large live database, build them first
 * with `CREATE INDEX CONCURRENTLY` under these names (README, the note on migrations):
 * this migration then finds them and does nothing.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS messages_room_time ON messages (room_id, created_at, seq)`.execute(db)
  await sql`CREATE INDEX IF NOT EXISTS messages_time ON messages (created_at, room_id, seq)`.execute(db)
}

/** Undoes {@link up}. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX messages_time`.execute(db)
  await sql`DROP INDEX messages_room_time`.execute(db)
}
