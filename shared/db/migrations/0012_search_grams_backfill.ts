import { sql, type Kysely } from 'kysely'
import { searchGrams } from '../../search/grams.ts'

/** Messages read and rewritten at a time. */
const BATCH = 1000

/**
 * Search grams for messages stored before 0002. That migration added
 * `search_grams` with an empty default and filled nothing in, so such
 * messages could never be found: both search paths ask
 * `search_grams @> <query's grams>` (`search-store.ts`). The grams are the
 * app's own (`searchGrams`), computed here in batches in key order; a
 * message whose body has no grams keeps its empty array, and a deleted
 * message (no body) is left alone. Found by an independent review.
 */
export async function up(db: Kysely<any>): Promise<void> {
  let after: { roomId: string; seq: number } | undefined
  for (;;) {
    const { rows } = await sql<{ room_id: string; seq: number; body: string }>`
      SELECT room_id, seq, body FROM messages
      WHERE search_grams = '{}' AND body IS NOT NULL AND deleted_at IS NULL
        ${after ? sql`AND (room_id, seq) > (${after.roomId}, ${after.seq})` : sql``}
      ORDER BY room_id, seq LIMIT ${BATCH}`.execute(db)
    if (rows.length === 0) return
    const filled = rows.map((row) => ({ ...row, grams: searchGrams(row.body) })).filter((row) => row.grams.length > 0)
    if (filled.length > 0) {
      await sql`UPDATE messages m SET search_grams = string_to_array(f.grams, ' ')
        FROM unnest(${filled.map((r) => r.room_id)}::text[], ${filled.map((r) => r.seq)}::bigint[], ${filled.map((r) => r.grams.join(' '))}::text[]) AS f(room_id, seq, grams)
        WHERE m.room_id = f.room_id AND m.seq = f.seq`.execute(db)
    }
    const last = rows[rows.length - 1]!
    after = { roomId: last.room_id, seq: Number(last.seq) }
  }
}

/** Nothing to undo: the grams are what any later write of these messages would have stored. */
export async function down(): Promise<void> {}
