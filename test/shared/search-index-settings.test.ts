import t from 'tap'
import { sql } from 'kysely'
import { startTestNode } from '../helpers/node.ts'

// Migration 0010: a full pending list is moved into the search index inside the commit that finds it full,
// stalling it and the other writer connection for a time that grows with the list (80 ms at the default 4 MB).
t.test('the search index keeps a pending list of at most 1 MB', async (t) => {
  const app = await startTestNode(t)
  const { rows } = await sql<{ reloptions: string[] | null }>`
    SELECT c.reloptions FROM pg_class c WHERE c.relname = 'messages_search' AND c.relnamespace = current_schema()::regnamespace`
    .execute(app.node.database.db)
  t.equal(rows.length, 1, 'the index exists in this schema')
  t.same(rows[0]?.reloptions, ['gin_pending_list_limit=1024'])
})
