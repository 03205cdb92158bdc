import { sql, type Kysely } from 'kysely'

/**
 * The search index's pending list capped at 1 MB instead of Postgres's
 * default 4 MB (`gin_pending_list_limit`). New rows' grams wait in that list
 * (GIN `fastupdate`) until an insert finds it full and moves it into the
 * index, inside that insert's commit; a concurrent commit into the index
 * waits too. Moving 4 MB took 80 ms on the bench machine, so every few
 * seconds of chat traffic two batches (both writer connections) stalled for
 * that long: scenario 2's slowest messages. With 1 MB the move takes a
 * quarter as long, four times as often, for the same work in all (a loop of
 * commits of 10 messages, 40,000 in all: slowest commit 79 -> 22 ms, rate
 * 8,040 -> 8,090 msg/s; of 165: 89 -> 35 ms, rate -2%). Searches also read
 * the pending list whole, so a shorter one is cheaper for them. On a server
 * whose autovacuum runs, vacuum empties the list too, in the background.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX messages_search SET (gin_pending_list_limit = 1024)`.execute(db)
}

/** Back to the server's default. */
export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX messages_search RESET (gin_pending_list_limit)`.execute(db)
}
