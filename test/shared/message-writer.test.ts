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
  const carol = await app.user('carol')
  const otherRoom = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: carol.id } })).body.room.id
  const elsewhere = (clientMsgId: string) => ({ ...message(clientMsgId), roomId: otherRoom })
  const turns = async (count: number) => {
    for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve))
  }

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

  t.test("one room's batches number its messages in the order written", async (t) => {
    const numbers: number[] = []
    for (let round = 0; round < 4; round++) {
      // Five at once (the queue's limit here), in one room: a batch of 3, then one of 2.
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
    // With batches of at most 3, a batch of 3 is enough to go alongside another; the commit never takes too long.
    const gated = gatedWriter({ alongsideWaitMs: 60_000 })
    const writes = [gated.writer.write(message('h1'))]
    await turns(1)
    writes.push(gated.writer.write(elsewhere('h2')), gated.writer.write(elsewhere('h3')))
    await turns(2)
    t.same(gated.started, ['h1'], 'two messages of a free room wait for the commit in progress')
    writes.push(gated.writer.write(elsewhere('h4')))
    await turns(2)
    t.same(gated.started, ['h1', 'h2,h3,h4'], 'a full batch of three goes alongside it')
    t.same(await gated.settle(writes), Array(4).fill('stored'))

    const next = [gated.writer.write(message('k1'))]
    await turns(1)
    next.push(gated.writer.write(elsewhere('k2')))
    await turns(2)
    t.same(gated.started.slice(2), ['k1'], 'k2 waits for k1')
    t.same(await gated.settle(next), ['stored', 'stored'], 'and goes once k1 has committed')
    t.same(gated.started.slice(2), ['k1', 'k2'])
  })

  t.test('a commit that takes long stops holding back the other rooms', async (t) => {
    const gated = gatedWriter({ alongsideWaitMs: 20 })
    const writes = [gated.writer.write(message('s1'))]
    await turns(1)
    writes.push(gated.writer.write(elsewhere('s2')))
    for (let i = 0; i < 200 && gated.started.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    t.same(gated.started, ['s1', 's2'], 's2 goes while s1 still waits')
    t.same(await gated.settle(writes), ['stored', 'stored'])
  })

  /** A writer (batches of 3, two at once) whose every commit waits for `settle`, noting what each batch held. */
  function gatedWriter(limits: { alongsideWaitMs: number }) {
    const started: string[] = []
    const held: Array<() => void> = []
    class HeldStore extends MessageStore {
      override async commitBatch(batch: readonly PreparedMessage[]) {
        started.push(batch.map((m) => m.message.clientMsgId).join(','))
        await new Promise<void>((resolve) => held.push(resolve))
        return super.commitBatch(batch)
      }
    }
    const writer = new MessageWriter(new HeldStore(app.node.database.db), { batchMax: 3, queueMax: 20, concurrency: 2, ...limits }, createLogger('silent'))
    /**
     * Lets every commit through until `writes` settle; their outcomes, or
     * `['stranded']` after 10 s (a bound in time, not in event-loop turns:
     * on a loaded CI machine one real commit can outlast a thousand turns).
     */
    const settle = async (writes: Array<Promise<{ kind: string }>>) => {
      let settled = false
      const outcomes = Promise.all(writes).finally(() => { settled = true })
      for (const deadline = Date.now() + 10_000; !settled && Date.now() < deadline;) {
        held.splice(0).forEach((resolve) => resolve())
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
      return settled ? (await outcomes).map((o) => o.kind) : ['stranded']
    }
    return { writer, started, settle }
  }
})
