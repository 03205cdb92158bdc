import t from 'tap'
import { backoffDelay } from '../../client/backoff-delay.ts'
import type { ChatMessage } from '../../client/chat-types.ts'
import { RoomSequencer } from '../../client/room-sequencer.ts'

const msg = (id: number, roomId = 'room-a'): ChatMessage => ({ id, roomId, senderId: 's', clientMsgId: `c${id}`, body: `m${id}`, createdAt: '' })

t.test('messages come out per room in number order, each once', async (t) => {
  const out: number[] = []
  const seq = new RoomSequencer((m) => out.push(m.id))
  seq.track('room-a', 3)
  t.equal(seq.offer(msg(2)), 'dropped', 'at or below the last seen number: dropped')
  t.equal(seq.offer(msg(4)), 'emitted')
  t.equal(seq.offer(msg(6)), 'gap', 'ahead of a gap: waits and says so')
  t.equal(seq.offer(msg(4)), 'dropped', 'a repeat is dropped')
  t.equal(seq.offer(msg(5)), 'emitted', 'the gap filled: both go out')
  t.same(out, [4, 5, 6])
  t.equal(seq.offer(msg(1, 'room-b')), 'dropped', 'rooms not followed are ignored')
})

t.test('a held room waits for its catch-up, then releases in order', async (t) => {
  const out: number[] = []
  const seq = new RoomSequencer((m) => out.push(m.id))
  seq.track('room-a', 0)
  seq.hold(['room-a'])
  t.equal(seq.offer(msg(3)), 'waiting', 'live, during catch-up')
  for (const id of [1, 2, 3]) seq.offer(msg(id))
  t.same(out, [], 'nothing out while held')
  t.equal(seq.release('room-a', false), false, 'no gap left')
  t.same(out, [1, 2, 3], 'catch-up and live merged without repeats')
  seq.hold(['room-a'])
  seq.offer(msg(6))
  t.equal(seq.release('room-a', false), true, 'a gap is reported')
  t.same(out, [1, 2, 3])
  seq.release('room-a', true)
  t.same(out, [1, 2, 3, 6], 'forced: goes past a gap the server could not fill')
  t.same(seq.positions(), { 'room-a': 6 })
})

t.test('backoff doubles up to the cap, with jitter between half and all of it', async (t) => {
  t.equal(backoffDelay(0, { initialMs: 100, maxMs: 1000 }, () => 0), 50)
  t.equal(backoffDelay(0, { initialMs: 100, maxMs: 1000 }, () => 1), 100)
  t.equal(backoffDelay(3, { initialMs: 100, maxMs: 1000 }, () => 1), 800)
  t.equal(backoffDelay(10, { initialMs: 100, maxMs: 1000 }, () => 1), 1000, 'capped')
  t.equal(backoffDelay(100, { initialMs: 100, maxMs: 1000 }, () => 0.5), 750, 'capped, however many attempts')
})
