import { sql } from 'kysely'
import t from 'tap'
import * as lastMessageAtMonotonic from '../../shared/db/migrations/0011_last_message_at_monotonic.ts'
import { SearchStore } from '../../shared/stores/search-store.ts'
import { startTestNode } from '../helpers/node.ts'

/** A node, alice and bob, and their direct room. */
async function directRoom(t: Parameters<typeof startTestNode>[0]) {
  const app = await startTestNode(t)
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
  return { db: app.node.database.db, writer: app.node.services.writer, alice, bob, room }
}

// Search across rooms starts its walk at their latest last_message_at (search-store.ts), so no message may be newer.
t.test('a room\'s last_message_at never moves backwards, so search across rooms still finds its newest message', async (t) => {
  const { db, writer, alice, bob, room } = await directRoom(t)
  // Compared in SQL: a JS Date keeps only milliseconds.
  const lastMessageAtIs = async (seq: number) => (await sql<{ same: boolean }>`SELECT r.last_message_at = m.created_at AS same
    FROM rooms r JOIN messages m ON m.room_id = r.id AND m.seq = ${seq} WHERE r.id = ${room}`.execute(db)).rows[0]?.same

  await writer.write({ roomId: room, senderId: alice.id, clientMsgId: 'm1', body: 'first apple' })
  t.equal(await lastMessageAtIs(1), true, 'a commit sets it to its message\'s time')

  // As if the first message had been committed an hour ahead, before the clock stepped back.
  await sql`UPDATE messages SET created_at = created_at + interval '1 hour' WHERE room_id = ${room}`.execute(db)
  await sql`UPDATE rooms SET last_message_at = last_message_at + interval '1 hour' WHERE id = ${room}`.execute(db)
  await writer.write({ roomId: room, senderId: bob.id, clientMsgId: 'm2', body: 'second apple' })
  await writer.write({ roomId: room, senderId: bob.id, clientMsgId: 'm3', body: 'third apple' })
  t.equal(await lastMessageAtIs(1), true, 'later commits with earlier times leave it at the first message\'s time')

  const page = await new SearchStore(db, 3).inRoomsOf(alice.id, { text: 'apple', limit: 1 })
  t.same(page.messages.map((m) => m.body), ['first apple'], 'the newest match by time is found, not the newest two in a walk that started too late')
})

t.test('migration 0011 undone and done again: the function comes back, and rooms left behind their newest message are brought up to it', async (t) => {
  const { db, writer, alice, bob, room } = await directRoom(t)
  await writer.write({ roomId: room, senderId: alice.id, clientMsgId: 'm1', body: 'hello' })
  const definition = async () => (await sql<{ d: string }>`SELECT pg_get_functiondef('mqchat_commit_batch(text[], text[], text[], text[], text[], boolean[])'::regprocedure) AS d`.execute(db)).rows[0]!.d

  await lastMessageAtMonotonic.down(db)
  t.notOk((await definition()).includes('greatest('), 'down: the function sets the commit time as it is')
  await sql`UPDATE rooms SET last_message_at = last_message_at - interval '1 hour' WHERE id = ${room}`.execute(db)
  await lastMessageAtMonotonic.up(db)
  t.ok((await definition()).includes('last_message_at = greatest(rooms.last_message_at, committed_at)'), 'up: the greater of the two again')
  const { rows } = await sql<{ same: boolean }>`SELECT r.last_message_at = m.created_at AS same FROM rooms r JOIN messages m ON m.room_id = r.id WHERE r.id = ${room}`.execute(db)
  t.equal(rows[0]?.same, true, 'the room that lagged its message by an hour is at its time again')
  await t.rejects(lastMessageAtMonotonic.up(db), /does not contain/, 'applied twice, it refuses rather than edit blindly')
})
