import { CompiledQuery } from 'kysely'
import t from 'tap'
import { MessageStore } from '../../shared/stores/message-store.ts'
import { recentWindowMatches, SearchStore, type SearchPage } from '../../shared/stores/search-store.ts'
import { startTestNode } from '../helpers/node.ts'

/** Every match, page by page, as `room/id`. */
async function everyMatch(search: (cursor: string | undefined) => Promise<SearchPage>): Promise<string[]> {
  const found: string[] = []
  let cursor: string | undefined
  do {
    const page = await search(cursor)
    found.push(...page.messages.map((m) => `${m.roomId}/${m.id}`))
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return found
}

// The recent-window walk and the word index must give the same pages; a tiny window makes both run.
t.test('search answers the same from the newest messages and from the word index', async (t) => {
  const app = await startTestNode(t)
  const { db } = app.node.database
  const { writer } = app.node.services
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const group = async () => (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds: [bob.id] } })).body.room.id as string
  const [roomA, roomB] = [await group(), await group()]
  const bodies = (n: number) => Array.from({ length: n }, (_, i) => (i === 1 ? 'zebra crossing' : i % 3 === 0 ? `apple pie ${i}` : `plain words ${i}`))
  // Traffic in a room alice is not in, older and newer than hers: the walks across her rooms must neither show it nor be misled by it.
  const carol = await app.user('carol')
  const elsewhere = (await app.http('POST', '/v1/rooms', { token: carol.token, body: { type: 'group', name: 'not alice', memberIds: [bob.id] } })).body.room.id as string
  const writeElsewhere = async (from: number, count: number) => {
    for (const [i, body] of bodies(count).entries()) await writer.write({ roomId: elsewhere, senderId: carol.id, clientMsgId: `x${from + i}`, body })
  }
  await writeElsewhere(0, 10)
  for (const [roomId, count] of [[roomA, 30], [roomB, 12]] as const) {
    for (const [i, body] of bodies(count).entries()) await writer.write({ roomId, senderId: i % 2 ? alice.id : bob.id, clientMsgId: `m${i}`, body })
  }
  t.ok(await new MessageStore(db).delete(roomA, 25, bob.id), '"apple pie 24" deleted')
  await writeElsewhere(10, 20)

  const stores = { 'word index only': new SearchStore(db, 0), 'window of 5': new SearchStore(db, 5), 'window of 12': new SearchStore(db, 12), 'window over all': new SearchStore(db, 10_000) }
  const scopes = {
    'room A': (store: SearchStore, text: string) => (cursor?: string) => store.inRoom(roomA, { text, limit: 4, cursor }),
    'all of alice\'s rooms': (store: SearchStore, text: string) => (cursor?: string) => store.inRoomsOf(alice.id, { text, limit: 4, cursor }),
  }
  const expected: Record<string, Record<string, number>> = {
    apple: { 'room A': 9, 'all of alice\'s rooms': 13 },
    zebra: { 'room A': 1, 'all of alice\'s rooms': 2 },
    // Two messages in three: a window of 12 holds more than a page (4) of them, and answers alone.
    plain: { 'room A': 19, 'all of alice\'s rooms': 26 },
    'apple 27': { 'room A': 1, 'all of alice\'s rooms': 1 },
    absent: { 'room A': 0, 'all of alice\'s rooms': 0 },
  }
  for (const [text, counts] of Object.entries(expected)) {
    for (const [scopeName, scope] of Object.entries(scopes)) {
      const answers = await Promise.all(Object.values(stores).map((store) => everyMatch(scope(store, text))))
      const reference = answers[0]!
      t.equal(reference.length, counts[scopeName], `"${text}" in ${scopeName}: ${counts[scopeName]} matches (the deleted one is not)`)
      Object.keys(stores).slice(1).forEach((name, i) => t.same(answers[i + 1], reference, `"${text}" in ${scopeName}: ${name} pages as the word index does`))
    }
  }
})

t.test('across a user\'s rooms, the recent walk starts at their newest message and reads at most its window', async (t) => {
  const app = await startTestNode(t)
  const { db } = app.node.database
  const { writer } = app.node.services
  const [alice, bob, carol, dave, erin] = await Promise.all(['alice', 'bob', 'carol', 'dave', 'erin'].map((name) => app.user(name)))
  const group = async (token: string) => (await app.http('POST', '/v1/rooms', { token, body: { type: 'group', name: 'g', memberIds: [bob!.id] } })).body.room.id as string
  const [erins, alices, carols] = [await group(erin!.token), await group(alice!.token), await group(carol!.token)]
  await group(dave!.token)
  const write = async (roomId: string, senderId: string, bodies: string[]) => {
    for (const body of bodies) await writer.write({ roomId, senderId, clientMsgId: body, body })
  }
  const apples = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `apple ${prefix}${i}`)
  // Oldest first: erin's room, most of alice's, then carol's traffic, alice's last word, and a run alice deleted.
  await write(erins, erin!.id, apples('e', 10))
  await write(alices, alice!.id, apples('', 9))
  await write(carols, carol!.id, apples('c', 60))
  await write(alices, alice!.id, ['apple 9', ...apples('gone ', 8)])
  for (let seq = 11; seq <= 18; seq++) t.ok(await new MessageStore(db).delete(alices, seq, alice!.id), `alice's message ${seq} deleted`)
  await db.executeQuery(CompiledQuery.raw('ANALYZE messages'))

  const window = 5
  const walk = (memberId: string) => recentWindowMatches(db, { memberId }, 'apple', ['apple'], undefined, 4, window)
  const query = walk(alice!.id).compile()
  const plan = (await db.executeQuery<{ 'QUERY PLAN': unknown }>(CompiledQuery.raw(`EXPLAIN (ANALYZE, FORMAT JSON) ${query.sql}`, [...query.parameters]))).rows[0]!['QUERY PLAN']
  const parsed = (typeof plan === 'string' ? JSON.parse(plan) : plan) as Array<{ Plan: PlanNode }>
  const read = rowsReadFrom(parsed[0]!.Plan, 'messages')
  t.ok(read > 0 && read <= window, `alice's walk read ${read} rows of messages (window ${window}), past 8 deleted and among 60 of another room`)
  const page = await new SearchStore(db, window).inRoomsOf(alice!.id, { text: 'apple', limit: 4 })
  t.same(page.messages.map((m) => m.body), ['apple 9', 'apple 8', 'apple 7', 'apple 6'], 'her search shows her newest matches (the word index answers)')
  t.same((await walk(erin!.id).execute()).map((row) => row.body), ['apple e9', 'apple e8', 'apple e7', 'apple e6', 'apple e5'],
    'erin\'s walk starts at her newest message, past all the newer traffic, and answers alone')
  t.same((await new SearchStore(db, window).inRoomsOf(dave!.id, { text: 'apple', limit: 4 })).messages, [], 'a member whose rooms hold no message finds nothing')
})

interface PlanNode { 'Relation Name'?: string; 'Actual Rows'?: number; 'Actual Loops'?: number; 'Rows Removed by Filter'?: number; Plans?: PlanNode[] }

/** Rows the plan's scans of `relation` produced or filtered away, over all their loops. */
function rowsReadFrom(node: PlanNode, relation: string): number {
  const own = node['Relation Name'] === relation ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0)) * (node['Actual Loops'] ?? 1) : 0
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsReadFrom(child, relation), 0)
}
