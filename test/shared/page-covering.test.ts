import { CompiledQuery, type Kysely } from 'kysely'
import t from 'tap'
import type { Database } from '../../shared/db/schema.ts'
import * as messagesPageCovering from '../../shared/db/migrations/0012_messages_page_covering.ts'
import { MessageStore } from '../../shared/stores/message-store.ts'
import { pageQuery, type PageQuery } from '../../shared/stores/page-query.ts'
import { startTestNode } from '../helpers/node.ts'

interface PlanNode { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; 'Heap Fetches'?: number; Plans?: PlanNode[] }

/**
 * The scan of `messages` in the executed plan of a history page. A table of
 * a few pages is cheaper to read whole, so the planner is told to leave
 * sequential and bitmap scans aside, as it does by itself for a room among
 * many; what is left to see is whether the index scan needs the table.
 */
async function messagesScan(db: Kysely<Database>, roomId: string, query: PageQuery, memberId: string): Promise<PlanNode | undefined> {
  const compiled = pageQuery(db, roomId, query, memberId).compile()
  const result = await db.transaction().execute(async (trx) => {
    await trx.executeQuery(CompiledQuery.raw('SET LOCAL enable_seqscan = off'))
    await trx.executeQuery(CompiledQuery.raw('SET LOCAL enable_bitmapscan = off'))
    return trx.executeQuery<{ 'QUERY PLAN': unknown }>(CompiledQuery.raw(`EXPLAIN (ANALYZE, FORMAT JSON) ${compiled.sql}`, [...compiled.parameters]))
  })
  const plan = result.rows[0]!['QUERY PLAN']
  const root = ((typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: PlanNode }>)[0]!.Plan
  const find = (node: PlanNode): PlanNode | undefined => node['Relation Name'] === 'messages' ? node : (node.Plans ?? []).map(find).find(Boolean)
  return find(root)
}

// Migration 0012: the primary key carries the envelope, so a page (after vacuum) never reads the table.
t.test('a page of history is read from the primary key alone, and not without migration 0012', async (t) => {
  const app = await startTestNode(t)
  const { db } = app.node.database
  const { writer } = app.node.services
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
  for (let i = 1; i <= 120; i++) await writer.write({ roomId: room, senderId: i % 2 ? alice.id : bob.id, clientMsgId: `m${i}`, body: `message ${i}` })
  const vacuum = () => db.executeQuery(CompiledQuery.raw('VACUUM (ANALYZE) messages'))
  await vacuum()

  const page = { limit: 50, before: 100 }
  const covered = await messagesScan(db, room, page, alice.id)
  t.match(covered, { 'Node Type': 'Index Only Scan', 'Index Name': 'messages_pk', 'Heap Fetches': 0 }, 'an index-only scan of the key, no heap fetch')
  const read = await new MessageStore(db).page(room, page, alice.id)
  t.same(read.messages.map((m) => m.body), Array.from({ length: 50 }, (_, i) => `message ${i + 50}`), 'the page holds messages 50 to 99, oldest first')
  t.ok(read.messages.every((m) => m.senderId && m.clientMsgId && m.createdAt), 'every envelope field comes back from the key')

  await messagesPageCovering.down(db)
  await vacuum()
  const uncovered = await messagesScan(db, room, page, alice.id)
  t.not(uncovered?.['Node Type'], 'Index Only Scan', `without the migration the page reads the table (${uncovered?.['Node Type']})`)

  await messagesPageCovering.up(db)
  await vacuum()
  t.match(await messagesScan(db, room, page, alice.id), { 'Node Type': 'Index Only Scan', 'Heap Fetches': 0 }, 'the migration done again covers the page again')
  const options = await db.executeQuery<{ reloptions: string[] | null }>(CompiledQuery.raw(`SELECT reloptions FROM pg_class WHERE oid = 'messages'::regclass`))
  t.match(options.rows[0]?.reloptions, ['autovacuum_vacuum_insert_scale_factor=0.02'], 'autovacuum passes over messages after every 2% of inserts')
})
