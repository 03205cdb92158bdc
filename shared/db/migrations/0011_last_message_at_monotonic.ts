import { sql, type Kysely } from 'kysely'

const SIGNATURE = 'mqchat_commit_batch(text[], text[], text[], text[], text[], boolean[])'
const BEFORE = 'last_message_at = committed_at'
const AFTER = 'last_message_at = greatest(rooms.last_message_at, committed_at)'

/**
 * A room's `last_message_at` never moves backwards: the commit function
 * keeps the later of the stored value and its own commit time. Search
 * across a user's rooms starts its walk at the latest `last_message_at` of
 * those rooms (`search-store.ts`), so it must be at least the `created_at`
 * of every message in them; `clock_timestamp()` is the wall clock, and a
 * clock stepped back (NTP) would otherwise let a later batch lower it below
 * an earlier message's time. Rooms already behind are brought up to their
 * newest message.
 *
 * The function is edited in place (its definition as Postgres holds it,
 * one assignment replaced) rather than copied whole a fifth time; the
 * migration fails if the assignment is not found.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await replaceInCommitFunction(db, BEFORE, AFTER)
  // Rooms that a stepped-back clock (or an import) left behind their newest message: one probe each on messages_room_time.
  await sql`UPDATE rooms SET last_message_at = newest.at
    FROM (SELECT r.id, m.at FROM rooms r CROSS JOIN LATERAL (SELECT max(created_at) AS at FROM messages WHERE room_id = r.id) m) newest
    WHERE rooms.id = newest.id AND newest.at IS NOT NULL AND (rooms.last_message_at IS NULL OR rooms.last_message_at < newest.at)`.execute(db)
}

/** Back to setting the commit time as it is. */
export async function down(db: Kysely<any>): Promise<void> {
  await replaceInCommitFunction(db, AFTER, BEFORE)
}

async function replaceInCommitFunction(db: Kysely<any>, from: string, to: string): Promise<void> {
  await sql`
DO $do$
DECLARE
  definition text := pg_get_functiondef(${sql.lit(SIGNATURE)}::regprocedure);
BEGIN
  IF position(${sql.lit(from)} IN definition) = 0 THEN
    RAISE EXCEPTION 'mqchat_commit_batch does not contain "%"', ${sql.lit(from)};
  END IF;
  EXECUTE replace(definition, ${sql.lit(from)}, ${sql.lit(to)});
END
$do$`.execute(db)
}
