import { sql, type Kysely } from 'kysely'

/**
 * The search index's pending list capped at 1 MB instead of Postgres's
 * default 4 MB (`gin_pending_list_limit`). New rows' grams wait in that list
 * (GIN `fastupdate`) until an insert finds it full and moves it into the
 * index, inside that insert's commit; a concurrent commit into the index
 * waits too. On the bench machine, every few seconds of chat traffic two
 * batches (both writer connections) stalled for 55-120 ms that way, which
 * made scenario 2's slowest messages. With 1 MB the moves are shorter and
 * four times as frequent: in a loop of commits of 10 messages the slowest
 * took 22 ms instead of 79, at the same rate; of 165, 35 ms instead of 89,
 * 2% slower. In scenario 2, commits over 60 ms fell from 7-13 a run to 0-6,
 * while the 99.9th percentile commit rose from 13-21 to 24-29 ms and the
 * p99 of delivery did not improve overall (docs/PERFORMANCE.md). Searches
 * also read the pending list whole, so a shorter one is cheaper for them.
 * On a server whose autovacuum runs, vacuum empties the list too.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX messages_search SET (gin_pending_list_limit = 1024)`.execute(db)
}

/** Back to the server's default. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX messages_search RESET (gin_pending_list_limit)`.execute(db)
}
