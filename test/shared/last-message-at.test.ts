import { sql } from 'kysely'
import t from 'tap'
import { SearchStore } from '../../shared/stores/search-store.ts'
import { startTestNode } from '../helpers/node.ts'

// Search across rooms starts its walk at their latest last_message_at (search-store.ts), so no message may be newer.
t.test('a room\'s last_message_at never moves backwards, so search across rooms still finds its newest message', async (t) => {
  const app = await startTestNode(t)
  const { db } = app.node.database
  const { writer } = app.node.services
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
  const lastMessageAt = async () => (await db.selectFrom('rooms').select('last_message_at').where('id', '=', room).executeTakeFirstOrThrow()).last_message_at

  await writer.write({ roomId: room, senderId: alice.id, clientMsgId: 'm1', body: 'first apple' })
  const first = await db.selectFrom('messages').select('created_at').where('room_id', '=', room).executeTakeFirstOrThrow()
  t.same(await lastMessageAt(), first.created_at, 'a commit sets it to its message\'s time')

  // As if the first message had been committed an hour ahead, before the clock stepped back.
  await sql`UPDATE messages SET created_at = created_at + interval '1 hour' WHERE room_id = ${room}`.execute(db)
  await sql`UPDATE rooms SET last_message_at = last_message_at + interval '1 hour' WHERE id = ${room}`.execute(db)
  const ahead = await lastMessageAt()
  await writer.write({ roomId: room, senderId: bob.id, clientMsgId: 'm2', body: 'second apple' })
  await writer.write({ roomId: room, senderId: bob.id, clientMsgId: 'm3', body: 'third apple' })
  t.same(await lastMessageAt(), ahead, 'later commits with earlier times leave it where it was')

  const page = await new SearchStore(db, 3).inRoomsOf(alice.id, { text: 'apple', limit: 1 })
  t.same(page.messages.map((m) => m.body), ['first apple'], 'the newest match by time is found, not the newest two in a walk that started too late')
})
