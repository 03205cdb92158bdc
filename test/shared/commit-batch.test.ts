import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

// The group-commit function with awkward bodies, resends in one batch, and concurrent batches.
t.test('commit batch review', async (t) => {
  const app = await startTestNode(t, { WRITE_BATCH_MAX: '50', WRITE_CONCURRENCY: '4' })
  const { writer } = app.node.services
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = async () => (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds: [bob.id] } })).body.room.id as string
  const roomId = await room()

  t.test('bodies that array literals must quote come back unchanged', async (t) => {
    const bodies = ['NULL', 'null', '"quoted"', 'back\\slash', '{a,b}', 'comma, here', '  spaced  ', 'tab\there', 'new\nline', 'é ü 회의', '\\"', '}', '{']
    const outcomes = await Promise.all(bodies.map((body, i) => writer.write({ roomId, senderId: alice.id, clientMsgId: `q${i}`, body })))
    t.same(outcomes.map((o) => o.kind), bodies.map(() => 'stored'))
    t.same(outcomes.map((o) => (o.kind === 'room_gone' ? null : o.message.body)), bodies, 'envelopes carry the bodies')
    const rows = await app.node.database.db.selectFrom('messages').select(['client_msg_id', 'body']).where('room_id', '=', roomId).where('client_msg_id', 'like', 'q%').execute()
    const byId = new Map(rows.map((r) => [r.client_msg_id, r.body]))
    t.same(bodies.map((_, i) => byId.get(`q${i}`)), bodies, 'stored bodies are the bodies sent')
  })

  t.test('a resend inside one batch is stored once', async (t) => {
    const outcomes = await Promise.all([1, 2, 3].map(() => writer.write({ roomId, senderId: alice.id, clientMsgId: 'twice', body: 'x' })))
    t.same(outcomes.map((o) => o.kind), ['stored', 'duplicate', 'duplicate'])
    t.same(new Set(outcomes.map((o) => (o.kind === 'room_gone' ? 0 : o.message.id))).size, 1)
  })

  t.test('many rooms at once: each gap-free, in write order, times follow numbers', async (t) => {
    const rooms = await Promise.all(Array.from({ length: 6 }, () => room()))
    const writes = Array.from({ length: 300 }, (_, i) => ({ roomId: rooms[i % rooms.length]!, senderId: i % 2 ? alice.id : bob.id, clientMsgId: `c${i}`, body: `b${i}` }))
    const outcomes = await Promise.all(writes.map((w) => writer.write(w)))
    for (const r of rooms) {
      const mine = outcomes.filter((o, i) => writes[i]!.roomId === r).map((o) => (o.kind === 'stored' ? o.message : undefined))
      t.same(mine.map((m) => m?.id), mine.map((_, i) => i + 1), `room ${r} numbered 1..n in write order`)
      const times = mine.map((m) => Date.parse(m!.createdAt))
      t.same(times, [...times].sort((a, b) => a - b), 'times follow numbering')
    }
  })
})
