import { sql, type Kysely } from 'kysely'
import * as commitBatchProbes from './0008_commit_batch_probes.ts'

/**
 * `messages` without foreign keys: the group-commit function checks what
 * they checked, once per batch instead of once per row.
 *
 * A foreign key runs a trigger for every inserted row, and each trigger
 * runs a query that locks the parent row (`SELECT 1 FROM rooms x WHERE id =
 * $1 FOR KEY SHARE`): two per message. In a loop of batches of 165 into one
 * room, dropping both took the Postgres CPU per message from 65-66 to 54
 * us (about 7 us for either key alone); this migration as a whole, to
 * 52 us. `mqchat_commit_batch` already locks each batch's rooms (`FOR NO
 * KEY UPDATE`) and senders (`FOR SHARE`) and stores a message only when its
 * room and its sender exist, so the checks were made twice. What else the
 * keys did is kept here:
 *
 * - deleting a room deletes its messages (the cascade), by a trigger on
 *   `rooms`. A batch holds its rooms' locks until it commits, so a room
 *   deleted meanwhile waits for it, and its messages go with it; a batch
 *   that comes after the delete finds no room (`room_gone`);
 * - deleting a user who has sent messages fails (`foreign_key_violation`),
 *   by a trigger on `users`. mqchat never deletes users (it disables
 *   them); the check scans `messages`, as no index leads with the sender;
 * - the function now requires the sender's row for system messages too
 *   (the system user is disabled, so only its existence is asked): the
 *   key used to check that;
 * - a message is stored only in a room whose row the batch locked: a room
 *   created after the lock and deleted before the batch commits would
 *   otherwise keep its message (the key's share lock made the delete wait).
 *
 * `TRUNCATE rooms CASCADE` no longer empties `messages`.
 *
 * Inserting into `messages` other than through the function (the bench's
 * history loader does) must keep rooms and senders real itself, and each
 * room's `last_message_at` at or after its messages' `created_at`.
 * Migration 0011 edits the function below in place (`last_message_at`
 * never moves backwards): take a new version from the database, not from
 * here.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE messages DROP CONSTRAINT messages_room_id_fkey, DROP CONSTRAINT messages_sender_id_fkey`.execute(db)
  await sql`
CREATE OR REPLACE FUNCTION mqchat_delete_room_messages() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM messages WHERE room_id = OLD.id;
  RETURN OLD;
END
$fn$`.execute(db)
  await sql`CREATE TRIGGER rooms_delete_messages BEFORE DELETE ON rooms FOR EACH ROW EXECUTE FUNCTION mqchat_delete_room_messages()`.execute(db)
  await sql`
CREATE OR REPLACE FUNCTION mqchat_keep_senders() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF EXISTS (SELECT 1 FROM messages WHERE sender_id = OLD.id) THEN
    RAISE EXCEPTION 'user % has sent messages and cannot be deleted (disable the account instead)', OLD.id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN OLD;
END
$fn$`.execute(db)
  await sql`CREATE TRIGGER users_keep_senders BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION mqchat_keep_senders()`.execute(db)
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
  locked_rooms text[];
BEGIN
  SELECT coalesce(array_agg(l.id), '{}') INTO locked_rooms
  FROM (SELECT r.id FROM rooms r WHERE r.id = ANY (room_ids) ORDER BY r.id FOR NO KEY UPDATE) l;
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
      (ro.last_seq IS NOT NULL AND input.r = ANY (locked_rooms) AND usr.enabled IS NOT NULL AND (input.sys OR (mem.ok IS TRUE AND usr.enabled))) AS allowed
    FROM input
    LEFT JOIN LATERAL (SELECT r.last_seq FROM rooms r WHERE r.id = input.r LIMIT 1) ro ON true
    LEFT JOIN LATERAL (SELECT true AS ok FROM room_members rm WHERE rm.room_id = input.r AND rm.user_id = input.s LIMIT 1) mem ON true
    LEFT JOIN LATERAL (SELECT NOT u.disabled AS enabled FROM users u WHERE u.id = input.s LIMIT 1) usr ON true
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

/** Restores the foreign keys and the function as migration 0008 made it. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER users_keep_senders ON users`.execute(db)
  await sql`DROP FUNCTION mqchat_keep_senders()`.execute(db)
  await sql`DROP TRIGGER rooms_delete_messages ON rooms`.execute(db)
  await sql`DROP FUNCTION mqchat_delete_room_messages()`.execute(db)
  await sql`ALTER TABLE messages
    ADD CONSTRAINT messages_room_id_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE,
    ADD CONSTRAINT messages_sender_id_fkey FOREIGN KEY (sender_id) REFERENCES users (id)`.execute(db)
  await commitBatchProbes.up(db)
}
