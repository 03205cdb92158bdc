import t from 'tap'
import { MessageWriter } from '../../shared/chat/message-writer.ts'
import { createLogger } from '../../shared/logger.ts'
import { MessageStore } from '../../shared/stores/message-store.ts'
import type { PreparedMessage } from '../../shared/stores/prepared-message.ts'
import { startTestNode } from '../helpers/node.ts'

t.test('the group-commit writer', async (t) => {
  const app = await startTestNode(t, { WRITE_QUEUE_MAX: '5', WRITE_BATCH_MAX: '3' })
  const { writer } = app.node.services
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const message = (clientMsgId: string, body = `body of ${clientMsgId}`) => ({ roomId, senderId: alice.id, clientMsgId, body })

  t.test('batches hold at most WRITE_BATCH_MAX messages', async (t) => {
    const outcomes = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => writer.write(message(id))))
    t.same(outcomes.map((o) => o.kind), Array(5).fill('stored'))
    t.equal(writer.stats.largestBatch, 3, 'largest batch is 3')
  })

  t.test('beyond WRITE_QUEUE_MAX waiting messages, writes are refused with server_busy', async (t) => {
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => writer.write(message(`q${i}`))))
    t.same(results.map((r) => r.status), [...Array(5).fill('fulfilled'), ...Array(3).fill('rejected')], 'five accepted, three refused')
    t.same(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code), Array(3).fill('server_busy'))
  })

  t.test('a row the database refuses fails alone; its batch neighbours are stored', async (t) => {
    // A NUL byte passes no adapter (validateMessage refuses it) but Postgres text cannot hold it,
    // which makes it a real database-level failure inside a batch.
    const results = await Promise.allSettled([writer.write(message('n1')), writer.write(message('n2', 'bad\u0000row')), writer.write(message('n3'))])
    t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
    t.equal((results[1] as PromiseRejectedResult).reason.code, 'server_busy', 'the bad one is refused as not stored')
    const stored = await app.node.database.db.selectFrom('messages').select('client_msg_id').where('client_msg_id', 'in', ['n1', 'n2', 'n3']).execute()
    t.same(stored.map((r) => r.client_msg_id).sort(), ['n1', 'n3'])
  })

  t.test('batches committing at once number one room in the order written', async (t) => {
    const numbers: number[] = []
    for (let round = 0; round < 4; round++) {
      // Five at once (the queue's limit here): a batch of 3 and one of 2, committing together.
      const outcomes = await Promise.all(Array.from({ length: 5 }, (_, i) => writer.write(message(`o${round}-${i}`))))
      numbers.push(...outcomes.map((o) => (o.kind === 'stored' ? o.message.id : NaN)))
    }
    t.same(numbers, Array.from({ length: 20 }, (_, i) => numbers[0]! + i), 'consecutive numbers in write order')
  })

  t.test('a sender disabled while still connected gets nothing stored', async (t) => {
    const db = app.node.database.db
    await db.updateTable('users').set({ disabled: true }).where('id', '=', alice.id).execute()
    t.teardown(() => db.updateTable('users').set({ disabled: false }).where('id', '=', alice.id).execute())
    const outcome = await writer.write(message('after-disable'))
    t.equal(outcome.kind, 'room_gone', 'refused like a non-member')
    const rows = await db.selectFrom('messages').select('seq').where('client_msg_id', '=', 'after-disable').execute()
    t.same(rows, [], 'and not stored')
  })

  t.test('a message for a room that does not exist is answered room_gone', async (t) => {
    const outcome = await writer.write({ ...message('ghost'), roomId: 'NoSuchRoom00' })
    t.equal(outcome.kind, 'room_gone')
  })

  t.test('senders are answered in commit order, though the next batch starts before they are', async (t) => {
    // The same store, noting when each batch is handed over. The writer answers a batch's senders on the
    // event loop's next turn when it started another batch; on PGlite (in-process) that next batch can
    // commit sooner, and its senders must still wait their turn.
    const events: string[] = []
    class NotingStore extends MessageStore {
      override commitBatch(batch: readonly PreparedMessage[]) {
        events.push(`commit ${batch.map((m) => m.message.clientMsgId).join(',')}`)
        return super.commitBatch(batch)
      }
    }
    const lone = new MessageWriter(new NotingStore(app.node.database.db), { batchMax: 1, queueMax: 10, concurrency: 1 }, createLogger('silent'))
    const first = lone.write(message('p1')).then(() => events.push('p1 answered'))
    const second = lone.write(message('p2')).then(() => events.push('p2 answered'))
    await Promise.all([first, second])
    t.same(events, ['commit p1', 'commit p2', 'p1 answered', 'p2 answered'])
  })

  t.test('a second batch commits alongside the first only when enough messages wait', async (t) => {
    // Each commit waits for the test's word, so what starts while the first batch commits is seen.
    // With batches of at most 3, a batch of 3 is enough to go alongside another.
    const started: string[] = []
    const held: Array<() => void> = []
    class HeldStore extends MessageStore {
      override async commitBatch(batch: readonly PreparedMessage[]) {
        started.push(batch.map((m) => m.message.clientMsgId).join(','))
        await new Promise<void>((resolve) => held.push(resolve))
        return super.commitBatch(batch)
      }
    }
    const carol = await app.user('carol')
    const otherRoom = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: carol.id } })).body.room.id
    const elsewhere = (clientMsgId: string) => ({ ...message(clientMsgId), roomId: otherRoom })
    const gated = new MessageWriter(new HeldStore(app.node.database.db), { batchMax: 3, queueMax: 20, concurrency: 2 }, createLogger('silent'))
    const turn = () => new Promise((resolve) => setImmediate(resolve))
    const writes = [gated.write(message('h1'))]
    await turn()
    writes.push(gated.write(elsewhere('h2')), gated.write(elsewhere('h3')))
    await turn()
    await turn()
    t.same(started, ['h1'], 'two messages of a free room wait for the commit in progress')
    writes.push(gated.write(elsewhere('h4')))
    await turn()
    await turn()
    t.same(started, ['h1', 'h2,h3,h4'], 'a full batch of three goes alongside it')
    let settled = false
    const outcomes = Promise.all(writes).finally(() => { settled = true })
    while (!settled) {
      held.splice(0).forEach((resolve) => resolve())
      await turn()
    }
    t.same((await outcomes).map((o) => o.kind), Array(4).fill('stored'))
  })
})
