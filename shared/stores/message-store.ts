import { sql, type Kysely } from 'kysely'
import type { Database, MessageRow } from '../db/schema.ts'
import type { MessageEnvelope } from '../protocol.ts'
import { searchGrams } from '../search/grams.ts'

/** A message waiting to be committed. */
export interface PendingMessage {
  roomId: string
  senderId: string
  clientMsgId: string
  body: string
}

/** What became of one message of a batch: stored now, stored before, or refused. */
export type CommitOutcome =
  | { kind: 'stored'; message: MessageEnvelope }
  | { kind: 'duplicate'; message: MessageEnvelope }
  /** The room is gone, or the sender is no longer in it. */
  | { kind: 'room_gone' }

/** A cursor page request over one room's history. */
export interface PageQuery {
  limit: number
  before?: number | undefined
  after?: number | undefined
}

/** The envelope every reader sees for a stored row. */
export function toEnvelope(row: EnvelopeRow): MessageEnvelope {
  const envelope: MessageEnvelope = {
    id: Number(row.seq),
    roomId: row.room_id,
    senderId: row.sender_id,
    clientMsgId: row.client_msg_id,
    body: row.body,
    createdAt: new Date(row.created_at).toISOString(),
  }
  if (row.edited_at) envelope.editedAt = new Date(row.edited_at).toISOString()
  if (row.deleted_at) envelope.deletedAt = new Date(row.deleted_at).toISOString()
  return envelope
}

/** The columns an envelope is made of (never the search grams). */
type EnvelopeRow = Omit<MessageRow, 'search_grams'>

/** The columns to select for {@link toEnvelope}. */
export const ENVELOPE_COLUMNS = ['room_id', 'seq', 'sender_id', 'client_msg_id', 'body', 'created_at', 'edited_at', 'deleted_at'] as const

const dedupeKey = (m: { roomId: string; senderId: string; clientMsgId: string }) => `${m.roomId}\n${m.senderId}\n${m.clientMsgId}`

/** Reads and writes `messages`. */
export class MessageStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /**
   * Commits a batch in one transaction (group commit). The rooms' rows are
   * locked in id order, so numbers are handed out in commit order per room
   * and concurrent batches (from any node) cannot deadlock; times are taken
   * after the lock (statement time, not transaction start), so they follow
   * the numbering; resends of an
   * already stored (room, sender, client id) come back as duplicates and are
   * not written again. Outcomes are in the batch's order.
   */
  async commitBatch(batch: readonly PendingMessage[]): Promise<CommitOutcome[]> {
    return this.#db.transaction().execute(async (tx) => {
      const roomIds = [...new Set(batch.map((m) => m.roomId))].sort()
      const rooms = await tx.selectFrom('rooms').select(['id', 'last_seq']).where('id', 'in', roomIds).orderBy('id').forNoKeyUpdate().execute()
      const lastSeq = new Map(rooms.map((r) => [r.id, Number(r.last_seq)]))
      // After the lock, in a statement of its own (so with a snapshot that sees every change committed before
      // the lock was granted; membership changes take the same lock): which senders are still members, and
      // which messages are stored already. A join on unnest() arrays: one index probe per message, and one plan
      // whatever the batch size (a row-value IN list of N tuples is planned afresh for each N).
      const { rows: checked } = await sql<EnvelopeRow & { k_room: string; k_sender: string; is_member: boolean }>`
        SELECT k.room_id AS k_room, k.sender_id AS k_sender,
          EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = k.room_id AND rm.user_id = k.sender_id) AS is_member,
          m.room_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.created_at, m.edited_at, m.deleted_at
        FROM unnest(${batch.map((m) => m.roomId)}::text[], ${batch.map((m) => m.senderId)}::text[], ${batch.map((m) => m.clientMsgId)}::text[])
          AS k(room_id, sender_id, client_msg_id)
        LEFT JOIN messages m ON m.room_id = k.room_id AND m.sender_id = k.sender_id AND m.client_msg_id = k.client_msg_id`.execute(tx)
      const senders = new Set(checked.filter((row) => row.is_member).map((row) => `${row.k_room}\n${row.k_sender}`))
      const existing = checked.filter((row) => row.seq !== null)
      const known = new Map<string, EnvelopeRow>(existing.map((row) => [dedupeKey({ roomId: row.room_id, senderId: row.sender_id, clientMsgId: row.client_msg_id }), row]))

      const fresh: Array<{ index: number; seq: number }> = []
      const claimed = new Set<string>()
      const plan = batch.map((m, index) => {
        const key = dedupeKey(m)
        if (known.has(key) || claimed.has(key)) return { kind: 'duplicate' as const, key }
        const seq = lastSeq.get(m.roomId)
        if (seq === undefined || !senders.has(`${m.roomId}\n${m.senderId}`)) return { kind: 'room_gone' as const }
        lastSeq.set(m.roomId, seq + 1)
        claimed.add(key)
        fresh.push({ index, seq: seq + 1 })
        return { kind: 'stored' as const, key }
      })
      if (fresh.length > 0) {
        const inserted = await tx.insertInto('messages')
          .values(fresh.map(({ index, seq }) => {
            const m = batch[index]!
            return { room_id: m.roomId, seq, sender_id: m.senderId, client_msg_id: m.clientMsgId, body: m.body, search_grams: searchGrams(m.body), created_at: sql<Date>`statement_timestamp()` }
          }))
          .returning(ENVELOPE_COLUMNS)
          .execute()
        for (const row of inserted) known.set(dedupeKey({ roomId: row.room_id, senderId: row.sender_id, clientMsgId: row.client_msg_id }), row)
        const touched = [...new Set(fresh.map(({ index }) => batch[index]!.roomId))]
        await sql`UPDATE rooms SET last_seq = v.seq, last_message_at = statement_timestamp()
          FROM unnest(${touched}::text[], ${touched.map((id) => lastSeq.get(id))}::bigint[]) AS v(id, seq)
          WHERE rooms.id = v.id`.execute(tx)
      }
      return plan.map((step): CommitOutcome => {
        if (step.kind === 'room_gone') return step
        return { kind: step.kind, message: toEnvelope(known.get(step.key)!) }
      })
    })
  }

  /** One page of a room's history, oldest first, and whether more lie beyond it. */
  async page(roomId: string, query: PageQuery): Promise<{ messages: MessageEnvelope[]; hasMore: boolean }> {
    const forward = query.after !== undefined
    let select = this.#db.selectFrom('messages').select(ENVELOPE_COLUMNS).where('room_id', '=', roomId)
    if (query.after !== undefined) select = select.where('seq', '>', query.after)
    if (query.before !== undefined) select = select.where('seq', '<', query.before)
    const rows = await select.orderBy('seq', forward ? 'asc' : 'desc').limit(query.limit + 1).execute()
    const hasMore = rows.length > query.limit
    const page = rows.slice(0, query.limit)
    if (!forward) page.reverse()
    return { messages: page.map(toEnvelope), hasMore }
  }

  /** The message `senderId` stored in `roomId` under `clientMsgId`, or undefined. */
  async findByClientId(roomId: string, senderId: string, clientMsgId: string): Promise<MessageEnvelope | undefined> {
    const row = await this.#db.selectFrom('messages').select(ENVELOPE_COLUMNS)
      .where('room_id', '=', roomId).where('sender_id', '=', senderId).where('client_msg_id', '=', clientMsgId)
      .executeTakeFirst()
    return row && toEnvelope(row)
  }

  /** One message, or undefined. */
  async get(roomId: string, id: number): Promise<MessageEnvelope | undefined> {
    const row = await this.#db.selectFrom('messages').select(ENVELOPE_COLUMNS).where('room_id', '=', roomId).where('seq', '=', id).executeTakeFirst()
    return row && toEnvelope(row)
  }

  /**
   * Replaces the body of a message that `senderId` sent and that is not
   * deleted, and re-indexes it; undefined when no such message matched.
   */
  async edit(roomId: string, id: number, senderId: string, body: string): Promise<MessageEnvelope | undefined> {
    const row = await this.#db.updateTable('messages')
      .set({ body, search_grams: searchGrams(body), edited_at: sql<Date>`statement_timestamp()` })
      .where('room_id', '=', roomId).where('seq', '=', id).where('sender_id', '=', senderId).where('deleted_at', 'is', null)
      .returning(ENVELOPE_COLUMNS)
      .executeTakeFirst()
    return row && toEnvelope(row)
  }

  /**
   * Deletes a message of `senderId`'s: the row keeps its number, loses its
   * body and its search grams. Undefined when no undeleted message matched.
   */
  async delete(roomId: string, id: number, senderId: string): Promise<MessageEnvelope | undefined> {
    const row = await this.#db.updateTable('messages')
      .set({ body: null, search_grams: [], deleted_at: sql<Date>`statement_timestamp()` })
      .where('room_id', '=', roomId).where('seq', '=', id).where('sender_id', '=', senderId).where('deleted_at', 'is', null)
      .returning(ENVELOPE_COLUMNS)
      .executeTakeFirst()
    return row && toEnvelope(row)
  }

  /**
   * Catch-up for several rooms in one query: per room, up to `limit`
   * messages after the given number, oldest first, and whether more follow.
   */
  async after(positions: ReadonlyMap<string, number>, limit: number): Promise<Map<string, { messages: MessageEnvelope[]; hasMore: boolean }>> {
    const result = new Map<string, { messages: MessageEnvelope[]; hasMore: boolean }>()
    for (const roomId of positions.keys()) result.set(roomId, { messages: [], hasMore: false })
    if (positions.size === 0) return result
    const { rows } = await sql<EnvelopeRow>`
      SELECT m.room_id, m.seq, m.sender_id, m.client_msg_id, m.body, m.created_at, m.edited_at, m.deleted_at
      FROM unnest(${[...positions.keys()]}::text[], ${[...positions.values()]}::bigint[]) AS p(room_id, after)
      CROSS JOIN LATERAL (SELECT * FROM messages WHERE room_id = p.room_id AND seq > p.after ORDER BY seq LIMIT ${limit + 1}) m
      ORDER BY m.room_id, m.seq`.execute(this.#db)
    for (const row of rows) {
      const page = result.get(row.room_id)!
      if (page.messages.length < limit) page.messages.push(toEnvelope(row))
      else page.hasMore = true
    }
    return result
  }
}
