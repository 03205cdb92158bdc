import { sql, type Kysely } from 'kysely'

/**
 * The group commit as one server-side function, so a batch costs one round
 * trip instead of six (BEGIN, lock, check, INSERT, UPDATE, COMMIT). The
 * steps and their guarantees are those `MessageStore.commitBatch` documents:
 *
 * 1. lock the batch's rooms in id order (concurrent batches, from any node,
 *    cannot deadlock, and numbers follow commit order per room), then share
 *    its senders' rows, so a sender being disabled is either seen or waits;
 * 2. in a statement of its own, so with a snapshot taken after the lock was
 *    granted (READ COMMITTED gives each statement of a volatile function a
 *    new snapshot): which senders are members, which (room, sender, client
 *    id) rows exist already, then number, insert and move `last_seq`.
 *
 * The time is read after the lock (`clock_timestamp()`): inside a function
 * `statement_timestamp()` is the caller's start, before any lock wait.
 * Outcome per input position: `stored`, `duplicate` (stored before, or
 * earlier in the same batch) or `room_gone` (no room, not a member, or a
 * sender whose account was disabled while connected).
 * `grams` holds each message's search grams joined by spaces (a gram is
 * letters, marks and digits, never a space). A system message (`system_flags`)
 * needs only its room to exist: the service's own sender is no member.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
CREATE FUNCTION mqchat_commit_batch(room_ids text[], sender_ids text[], client_ids text[], bodies text[], grams text[], system_flags boolean[])
RETURNS TABLE (idx int, outcome text, room_id text, seq bigint, sender_id text, client_msg_id text, body text,
  created_at timestamptz, edited_at timestamptz, deleted_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $fn$
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
      (ro.id IS NOT NULL AND (input.sys OR EXISTS (SELECT 1 FROM room_members rm JOIN users u ON u.id = rm.user_id
        WHERE rm.room_id = input.r AND rm.user_id = input.s AND NOT u.disabled))) AS allowed
    FROM input
    LEFT JOIN rooms ro ON ro.id = input.r
    LEFT JOIN messages m ON m.room_id = input.r AND m.sender_id = input.s AND m.client_msg_id = input.c
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
  LEFT JOIN messages old ON c.old_seq IS NOT NULL AND old.room_id = c.r AND old.seq = c.old_seq
  LEFT JOIN inserted ins ON c.old_seq IS NULL AND c.allowed AND ins.room_id = c.r AND ins.sender_id = c.s AND ins.client_msg_id = c.c
  ORDER BY c.i;
END
$fn$`.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION mqchat_commit_batch(text[], text[], text[], text[], text[], boolean[])`.execute(db)
}
