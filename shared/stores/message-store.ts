import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import type { MessageEnvelope } from '../protocol.ts'
import { searchGrams } from '../search/grams.ts'
import { ENVELOPE_COLUMNS, toEnvelope, type EnvelopeRow } from './envelope.ts'
import { pageQuery, type PageQuery } from './page-query.ts'
import { arrayLiteral, distinctMessages, type PreparedMessage } from './prepared-message.ts'

/** A message waiting to be committed. */
export interface PendingMessage {
  roomId: string
  senderId: string
  clientMsgId: string
  body: string
  /** Sent by the service itself (`SYSTEM_USER_ID`), which is no member: only the room must exist. */
  system?: boolean
}

/** What became of one message of a batch: stored now, stored before, or refused. */
export type CommitOutcome =
  | { kind: 'stored'; message: MessageEnvelope }
  | { kind: 'duplicate'; message: MessageEnvelope }
  /** The room is gone, or the sender is no longer in it. */
  | { kind: 'room_gone' }

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
   * after the lock, so they follow the numbering; resends of an already
   * stored (room, sender, client id) come back as duplicates and are not
   * written again, as do resends within the batch (sent to the database
   * once). Outcomes are in the batch's order. Each message comes prepared
   * (`prepareMessage`), as the writer prepares it when it is written.
   */
  async commitBatch(batch: readonly PreparedMessage[]): Promise<CommitOutcome[]> {
    const { unique, slots, repeats } = distinctMessages(batch)
    // One round trip: the steps run in the database function (migrations 0005, 0007, 0008, 0009).
    const { rows } = await sql<EnvelopeRow & { idx: number; outcome: CommitOutcome['kind'] }>`
      SELECT * FROM mqchat_commit_batch(${arrayLiteral(unique, 0)}::text[], ${arrayLiteral(unique, 1)}::text[],
        ${arrayLiteral(unique, 2)}::text[], ${arrayLiteral(unique, 3)}::text[], ${arrayLiteral(unique, 4)}::text[],
        ${arrayLiteral(unique, 5)}::boolean[])`
      .execute(this.#db)
    if (rows.length !== unique.length) throw new Error(`commit returned ${rows.length} outcomes for ${unique.length} messages`)
    const outcomes = rows.map((row): CommitOutcome => row.outcome === 'room_gone' ? { kind: 'room_gone' } : { kind: row.outcome, message: toEnvelope(row) })
    return slots.map((slot, i) => {
      const outcome = outcomes[slot]!
      return repeats[i] && outcome.kind !== 'room_gone' ? { kind: 'duplicate', message: outcome.message } : outcome
    })
  }

  /**
   * One page of a room's history, oldest first, and whether more lie beyond
   * it. With `onlyForMember`, empty unless that user is a member of the
   * room (checked in the same query).
   */
  async page(roomId: string, query: PageQuery, onlyForMember?: string): Promise<{ messages: MessageEnvelope[]; hasMore: boolean }> {
    const rows = await pageQuery(this.#db, roomId, query, onlyForMember).execute()
    const hasMore = rows.length > query.limit
    const page = rows.slice(0, query.limit)
    if (query.after === undefined) page.reverse()
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
