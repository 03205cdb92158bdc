import type { Test } from 'tap'
import { bodyOf } from './publisher.ts'

type Row = { room_id: string; seq: number; client_msg_id: string; body: string }

/**
 * The durable-ack promise, checked on the rows of `messages`: every id in
 * `acked` is stored, each exactly once and whole (its body as sent), only
 * ids that were sent are stored, and each room is numbered 1..n without a gap.
 */
export function verifyStored(t: Test, rows: Row[], sent: ReadonlySet<string>, acked: ReadonlySet<string>): void {
  const counts = new Map<string, number>()
  for (const row of rows) counts.set(row.client_msg_id, (counts.get(row.client_msg_id) ?? 0) + 1)
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([id]) => id)
  t.same(duplicated.slice(0, 10), [], `no client message id stored twice (${duplicated.length} were)`)
  const missing = [...acked].filter((id) => !counts.has(id))
  t.same(missing.slice(0, 10), [], `every acknowledged message is stored (${acked.size} acknowledged, ${missing.length} missing)`)
  const unknown = rows.filter((r) => !sent.has(r.client_msg_id)).map((r) => r.client_msg_id)
  t.same(unknown.slice(0, 10), [], 'nothing stored that was not sent')
  const mangled = rows.filter((r) => r.body !== bodyOf(r.client_msg_id)).map((r) => r.client_msg_id)
  t.same(mangled.slice(0, 10), [], 'every stored message is whole (body as sent)')
  const byRoom = new Map<string, number[]>()
  for (const row of rows) {
    if (!byRoom.has(row.room_id)) byRoom.set(row.room_id, [])
    byRoom.get(row.room_id)!.push(row.seq)
  }
  for (const [roomId, seqs] of byRoom) {
    const sorted = [...seqs].sort((a, b) => a - b)
    const gapAt = sorted.findIndex((seq, i) => seq !== i + 1)
    t.equal(gapAt, -1, `room ${roomId}: ${sorted.length} messages numbered 1..${sorted.length} without a gap`)
  }
}

/**
 * What a subscriber saw, live and by catch-up together, against what is
 * stored: every stored message of each room, by number.
 */
export function verifySeen(t: Test, rows: Row[], seen: ReadonlyMap<string, ReadonlySet<number>>, who: string): void {
  const byRoom = new Map<string, number[]>()
  for (const row of rows) {
    if (!byRoom.has(row.room_id)) byRoom.set(row.room_id, [])
    byRoom.get(row.room_id)!.push(row.seq)
  }
  for (const [roomId, seqs] of byRoom) {
    const mine = seen.get(roomId) ?? new Set<number>()
    const unseen = seqs.filter((seq) => !mine.has(seq))
    t.same(unseen.slice(0, 10), [], `${who} saw all ${seqs.length} messages of room ${roomId} (${unseen.length} unseen)`)
  }
}
