import { sql, type Kysely } from 'kysely'

/** The columns a page of history returns besides its key (`ENVELOPE_COLUMNS` in message-store.ts). */
const PAGE_COLUMNS = sql`sender_id, client_msg_id, body, created_at, edited_at, deleted_at`

/**
 * A page of history read from the primary key alone. The key (room, seq)
 * now carries the rest of a message's envelope (`INCLUDE`), so a page of 50
 * is an index-only scan of two or three leaf pages. Before, it read one heap
 * page per message: a room's messages lie among every other room's in the
 * order they arrived, so 50 messages sat on about 50 pages, and with
 * 1,000,000 messages (338 MB of heap beside 128 MB of shared buffers) most
 * of those were reads. Measured on the bench machine over `pg`, sequential
 * random pages: p50 0.52-0.54 ms before, 0.25-0.27 after; p99 3.4-3.8 and
 * 2.1-2.4 (docs/PERFORMANCE.md).
 *
 * An index-only scan skips the heap only for pages the visibility map marks
 * all-visible, which vacuum does. Autovacuum of an insert-only table waits
 * by default for inserts of a fifth of the table; `messages` asks for one
 * after every 2% (plus the default 1,000 rows), so all but the newest
 * messages are read from the key. Those passes also empty the search
 * index's pending list (see 0010). The search grams stay out of the key:
 * searches do not page by (room, seq).
 *
 * Rebuilding the key locks `messages` for writes while it runs (seconds per
 * million messages).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE messages DROP CONSTRAINT messages_pk,
    ADD CONSTRAINT messages_pk PRIMARY KEY (room_id, seq) INCLUDE (${PAGE_COLUMNS})`.execute(db)
  await sql`ALTER TABLE messages SET (autovacuum_vacuum_insert_scale_factor = 0.02)`.execute(db)
}

/** Back to a key of (room, seq) alone and the server's autovacuum setting. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE messages RESET (autovacuum_vacuum_insert_scale_factor)`.execute(db)
  await sql`ALTER TABLE messages DROP CONSTRAINT messages_pk, ADD CONSTRAINT messages_pk PRIMARY KEY (room_id, seq)`.execute(db)
}
