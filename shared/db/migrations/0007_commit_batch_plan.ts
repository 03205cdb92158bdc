import { sql, type Kysely } from 'kysely'
import * as commitBatch from './0005_commit_batch.ts'

/**
 * The group-commit function of migration 0005, unchanged in what it does,
 * planned once per connection instead of on every call. Its main statement
 * took about 0.6 ms to plan and 0.35 ms to run for a one-message batch
 * (EXPLAIN ANALYZE on Postgres 15): planning was most of the cost of a lone
 * message's commit. Postgres re-planned it each call because a plan made for
 * unknown arrays (a generic plan) hash-joined whole tables. Every look-up by
 * key is now a LATERAL subquery with LIMIT 1, which can only be an index
 * probe per batch row, so the generic plan is as good as a custom one and
 * the function asks for it (`plan_cache_mode`). A new plan is still made
 * when the tables' statistics change (ANALYZE invalidates it).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
CREATE OR REPLACE FUNCTION mqchat_commit_batch(room_ids text[], sender_ids text[], client_ids text[], bodies text[], grams text[], system_flags boolean[])
RETURNS TABLE (idx int, outcome text, room_id text, seq bigint, sender_id text, client_msg_id text, body text,
  created_at timestamptz, edited_at timestamptz, deleted_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
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
    SELECT input.*, ro.last_seq AS room_seq, m.seq AS old_seq,
      row_number() OVER (PARTITION BY input.r, input.s, input.c ORDER BY input.i) AS nth,
      (ro.id IS NOT NULL AND (input.sys OR (EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = input.r AND rm.user_id = input.s)
        AND EXISTS (SELECT 1 FROM users u WHERE u.id = input.s AND NOT u.disabled)))) AS allowed
    FROM input
    LEFT JOIN LATERAL (SELECT r.id, r.last_seq FROM rooms r WHERE r.id = input.r LIMIT 1) ro ON true
    LEFT JOIN LATERAL (SELECT p.seq FROM messages p WHERE p.room_id = input.r AND p.sender_id = input.s AND p.client_msg_id = input.c LIMIT 1) m ON true
  ), fresh AS (
    SELECT f.*, f.room_seq + row_number() OVER (PARTITION BY f.r ORDER BY f.i) AS new_seq
    FROM classified f WHERE f.old_seq IS NULL AND f.nth = 1 AND f.allowed
  ), inserted AS (
    INSERT INTO messages AS ins (room_id, seq, sender_id, client_msg_id, body, search_grams, created_at)
    SELECT f.r, f.new_seq, f.s, f.c, f.b, string_to_array(f.g, ' '), committed_at FROM fresh f
    RETURNING ins.room_id, ins.seq, ins.sender_id, ins.client_msg_id, ins.body, ins.created_at, ins.edited_at, ins.deleted_at
  ), bumped AS (
    UPDATE rooms SET last_seq = top.seq, last_message_at = committed_at
    FROM (SELECT f.r, max(f.new_seq) AS seq FROM fresh f GROUP BY f.r) top
    WHERE rooms.id = top.r
    RETURNING rooms.id
  )
  SELECT c.i,
    CASE WHEN c.old_seq IS NOT NULL THEN 'duplicate' WHEN NOT c.allowed THEN 'room_gone' WHEN c.nth > 1 THEN 'duplicate' ELSE 'stored' END,
    coalesce(old.room_id, ins.room_id), coalesce(old.seq, ins.seq), coalesce(old.sender_id, ins.sender_id),
    coalesce(old.client_msg_id, ins.client_msg_id), CASE WHEN old.seq IS NOT NULL THEN old.body ELSE ins.body END,
    coalesce(old.created_at, ins.created_at), old.edited_at, old.deleted_at
  FROM classified c
  LEFT JOIN LATERAL (SELECT o.* FROM messages o WHERE c.old_seq IS NOT NULL AND o.room_id = c.r AND o.seq = c.old_seq LIMIT 1) old ON true
  LEFT JOIN inserted ins ON c.old_seq IS NULL AND c.allowed AND ins.room_id = c.r AND ins.sender_id = c.s AND ins.client_msg_id = c.c
  ORDER BY c.i;
END
$fn$`.execute(db)
}

/** Restores the function as migration 0005 made it. */
export async function down(db: Kysely<any>): Promise<void> {
  await commitBatch.down(db)
  await commitBatch.up(db)
}
