import { sql, type Kysely } from 'kysely'
import * as commitBatchPlan from './0007_commit_batch_plan.ts'

/**
 * The group-commit function of migration 0007, doing the same, with a
 * cached plan whose cost follows the batch, not the tables. 0007's generic
 * plan (made once per connection, for arrays of unknown contents) could
 * hash whole tables and join rows pairwise:
 *
 * - the membership and account checks were `EXISTS` subqueries, which the
 *   planner may run as a hashed subplan: a scan of all of `room_members` and
 *   all of `users` for every batch. Each is now a `LATERAL ... LIMIT 1`
 *   probe of a primary key;
 * - the sender lock read `users` by `id = ANY (...)`, which a small table
 *   answers by a scan comparing every row with every id;
 * - the answer joined the batch with the inserted rows by nested loop,
 *   n x n comparisons (65,536 for a batch of 256). The stored rows' columns
 *   are known before the insert (number, sender, body, the commit time), so
 *   the answer is built from the numbered batch with no join back, and the
 *   duplicate probe reads the stored row's columns at once;
 * - a resend inside the batch (the same room, sender and client id twice)
 *   was found by sorting the batch by those keys. The caller now sends each
 *   once (`MessageStore.commitBatch`); one sent twice fails the insert
 *   with a unique violation, and the writer retries the batch one by one.
 *
 * `enable_seqscan = off` keeps every look-up on an index when the planner
 * thinks a table tiny (as on a new database): a plan is cached for the
 * connection's life, or until the table's statistics change, while the
 * table grows. Every statement here reads rows by key. (A plan made while
 * `messages` was analyzed as empty, which autovacuum does not do, can still
 * pick the wrong index for the resend probe until the next ANALYZE.)
 *
 * Measured one call at a time on the bench machine (500 rooms, 1,000
 * users): Postgres CPU per one-message batch 900 -> 460 us; per message in
 * batches of 256, 92 -> 45 us.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
CREATE OR REPLACE FUNCTION mqchat_commit_batch(room_ids text[], sender_ids text[], client_ids text[], bodies text[], grams text[], system_flags boolean[])
RETURNS TABLE (idx int, outcome text, room_id text, seq bigint, sender_id text, client_msg_id text, body text,
  created_at timestamptz, edited_at timestamptz, deleted_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $fn$
#variable_conflict use_column
DECLARE
  committed_at timestamptz;
BEGIN
  PERFORM 1 FROM rooms r WHERE r.id = ANY (room_ids) ORDER BY r.id FOR NO KEY UPDATE;
  -- Disabling a sender (an UPDATE of the row) waits for this batch, or this batch sees it: never stored after the admin was told.
  PERFORM 1 FROM users u WHERE u.id = ANY (sender_ids) ORDER BY u.id FOR SHARE;
  committed_at := clock_timestamp();
  RETURN QUERY
  WITH input AS (
    SELECT (k.ord - 1)::int AS i, k.r, k.s, k.c, k.b, k.g, k.sys
    FROM unnest(room_ids, sender_ids, client_ids, bodies, grams, system_flags) WITH ORDINALITY AS k(r, s, c, b, g, sys, ord)
  ), classified AS (
    SELECT input.*, ro.last_seq AS room_seq, old.seq AS old_seq, old.body AS old_body, old.created_at AS old_created_at,
      old.edited_at AS old_edited_at, old.deleted_at AS old_deleted_at,
      (ro.last_seq IS NOT NULL AND (input.sys OR (mem.ok IS TRUE AND usr.ok IS TRUE))) AS allowed
    FROM input
    LEFT JOIN LATERAL (SELECT r.last_seq FROM rooms r WHERE r.id = input.r LIMIT 1) ro ON true
    LEFT JOIN LATERAL (SELECT true AS ok FROM room_members rm WHERE rm.room_id = input.r AND rm.user_id = input.s LIMIT 1) mem ON true
    LEFT JOIN LATERAL (SELECT true AS ok FROM users u WHERE u.id = input.s AND NOT u.disabled LIMIT 1) usr ON true
    LEFT JOIN LATERAL (SELECT p.seq, p.body, p.created_at, p.edited_at, p.deleted_at FROM messages p
      WHERE p.room_id = input.r AND p.sender_id = input.s AND p.client_msg_id = input.c LIMIT 1) old ON true
  ), numbered AS (
    SELECT c.*, (c.old_seq IS NULL AND c.allowed) AS fresh,
      c.room_seq + count(*) FILTER (WHERE c.old_seq IS NULL AND c.allowed) OVER (PARTITION BY c.r ORDER BY c.i) AS new_seq
    FROM classified c
  ), inserted AS (
    INSERT INTO messages (room_id, seq, sender_id, client_msg_id, body, search_grams, created_at)
    SELECT n.r, n.new_seq, n.s, n.c, n.b, string_to_array(n.g, ' '), committed_at FROM numbered n WHERE n.fresh
  ), bumped AS (
    UPDATE rooms SET last_seq = top.seq, last_message_at = committed_at
    FROM (SELECT n.r, max(n.new_seq) AS seq FROM numbered n WHERE n.fresh GROUP BY n.r) top
    WHERE rooms.id = top.r
  )
  SELECT n.i,
    CASE WHEN n.old_seq IS NOT NULL THEN 'duplicate' WHEN NOT n.allowed THEN 'room_gone' ELSE 'stored' END,
    n.r, CASE WHEN n.old_seq IS NOT NULL THEN n.old_seq WHEN n.fresh THEN n.new_seq END, n.s, n.c,
    CASE WHEN n.old_seq IS NOT NULL THEN n.old_body ELSE n.b END,
    CASE WHEN n.old_seq IS NOT NULL THEN n.old_created_at ELSE committed_at END,
    n.old_edited_at, n.old_deleted_at
  FROM numbered n
  ORDER BY n.i;
END
$fn$`.execute(db)
}

/** Restores the function as migration 0007 made it. */
export async function down(db: Kysely<any>): Promise<void> {
  await commitBatchPlan.up(db)
}
