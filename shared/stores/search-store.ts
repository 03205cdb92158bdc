import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely'
import type { Database } from '../db/schema.ts'
import type { MessageEnvelope } from '../protocol.ts'
import { queryGrams, rawWordsOf } from '../search/grams.ts'
import { ENVELOPE_COLUMNS, toEnvelope, type EnvelopeRow } from './envelope.ts'
import { decodeCursor, encodeCursor, type Position } from './search-cursor.ts'

/** One page of matches, newest first; pass `nextCursor` back for the next page (null: this was the last). */
export interface SearchPage {
  messages: MessageEnvelope[]
  nextCursor: string | null
}

/** A search request that has passed validation: text with at least one word. */
export interface SearchRequest {
  text: string
  limit: number
  cursor?: string | undefined
}

/** Which rooms a search covers: one room, or every room of a user. */
export type SearchScope = { roomId: string } | { memberId: string }

/** The scope as a condition on a row that has a `room_id`. */
function inScope(scope: SearchScope): (eb: ExpressionBuilder<any, any>) => Expression<SqlBool> {
  return 'roomId' in scope
    ? (eb) => eb('room_id', '=', scope.roomId)
    : (eb) => eb('room_id', 'in', eb.selectFrom('room_members').select('room_members.room_id').where('room_members.user_id', '=', scope.memberId))
}

/**
 * Message search. Every query word must occur in the normalized body (AND);
 * deleted messages never match. Matches come newest first, ordered by
 * (time, room, number), and pages continue strictly after the last row of
 * the previous one, so rows sharing a commit time are neither repeated nor
 * skipped. Two ways to the same answer:
 *
 * - a walk of `recentWindow` messages on the time-ordered indexes (migration
 *   0006), when it meets more than a page of matches or walks all there is:
 *   a common word, which the word index would answer with thousands of rows
 *   to test and sort (1.3 s at 1,000,000 messages). In one room the walk
 *   reads that room's newest messages; across a user's rooms it reads the
 *   messages of all rooms from the user's newest one on and keeps the
 *   user's, so other rooms' traffic can neither lengthen the walk nor, when
 *   it is newer, fill it (walking until `recentWindow` of the user's own
 *   took 1.2 s behind 600,000 newer messages of other rooms). Traffic of
 *   other rooms interleaved with the user's still fills it, and then the
 *   word index answers, slowly for a common word;
 * - otherwise the `messages_search` GIN index (see `search/grams.ts`): it
 *   finds rows holding every gram of the query, and a substring test of each
 *   word drops rows whose grams only appear apart. EXPLAIN ANALYZE on
 *   Postgres 15, 5,000 messages in 20 rooms after VACUUM ANALYZE: a
 *   selective query (10 matches) is a Bitmap Index Scan, the substring
 *   filter on those heap rows, then a sort, 0.1 ms, in one room and across
 *   rooms. Freshly inserted rows wait in the GIN pending list (fastupdate)
 *   until vacuum, and the planner prices that list high; autovacuum empties
 *   it on an insert-heavy table.
 */
export class SearchStore {
  readonly #db: Kysely<Database>
  readonly #recentWindow: number

  /** `recentWindow`: newest messages a search walks before it turns to the word index. */
  constructor(db: Kysely<Database>, recentWindow = RECENT_WINDOW) {
    this.#db = db
    this.#recentWindow = recentWindow
  }

  /** Matches in one room. */
  async inRoom(roomId: string, request: SearchRequest): Promise<SearchPage> {
    return this.#search({ roomId }, request)
  }

  /** Matches in every room `userId` is a member of. */
  async inRoomsOf(userId: string, request: SearchRequest): Promise<SearchPage> {
    return this.#search({ memberId: userId }, request)
  }

  async #search(scope: SearchScope, request: SearchRequest): Promise<SearchPage> {
    const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor)
    const words = [...new Set(rawWordsOf(request.text))]
    const rows = (await this.#recentMatches(scope, request.text, words, after, request.limit)) ?? (await this.#indexedMatches(scope, request.text, words, after, request.limit))
    const page = rows.slice(0, request.limit)
    const last = page.at(-1)
    const more = rows.length > page.length && last !== undefined
    return {
      messages: page.map(toEnvelope),
      nextCursor: more ? encodeCursor({ at: last.exact_at, roomId: last.room_id, id: Number(last.seq) }) : null,
    }
  }

  /**
   * The first `limit + 1` matches in the recent window (after the cursor):
   * the answer whenever the window holds more than a page of matches (it is
   * a prefix of the result order) or was all there is. Undefined
   * otherwise, for the word index to answer. A common word is answered here
   * without touching the thousands of rows that hold it; a rare one costs
   * one bounded walk before the index.
   */
  async #recentMatches(scope: SearchScope, text: string, words: string[], after: Position | undefined, limit: number): Promise<SearchRow[] | undefined> {
    const rows = await recentWindowMatches(this.#db, scope, text, words, after, limit, this.#recentWindow).execute()
    if (rows.length > limit) return rows
    if (rows.length > 0 && Number(rows[0]!.walked) < this.#recentWindow) return rows
    return undefined
  }

  /** Matches on the `messages_search` GIN index: every message holding the query's grams, then the exact test, then the sort. */
  async #indexedMatches(scope: SearchScope, text: string, words: string[], after: Position | undefined, limit: number): Promise<SearchRow[]> {
    let select = this.#db.selectFrom('messages')
      .select(ENVELOPE_COLUMNS)
      .select(exactTime)
      .where(inScope(scope))
      .where('deleted_at', 'is', null)
      .where(sql<SqlBool>`search_grams @> ${queryGrams(text)}::text[]`)
      .where(bodyHoldsAll(words))
    if (after) select = select.where(afterPosition(after))
    return select.orderBy('created_at', 'desc').orderBy('room_id', 'desc').orderBy('seq', 'desc').limit(limit + 1).execute()
  }
}

/**
 * The matches among the newest `window` messages walked for `scope` (after
 * the cursor), newest first, at most `limit + 1`, each with `walked`: how
 * many messages the walk read. One room: that room's newest messages, on
 * `messages_room_time`. Several rooms: the newest messages of all rooms, on
 * `messages_time`, filtered to the scope after the walk, so the walk reads
 * `window` rows at most, starting at the member's newest message; the order
 * (time, room, number) is total, so the filtered rows are still a prefix of
 * the scope's result order.
 * Exported for the test that reads its plan.
 */
export function recentWindowMatches(db: Kysely<Database>, scope: SearchScope, text: string, words: string[], after: Position | undefined, limit: number, window: number) {
  return db
    .with('recent', (db) => {
      // Deleted messages are walked too (and dropped below): counted, they cannot stretch the walk.
      let recent = db.selectFrom('messages').select([...ENVELOPE_COLUMNS, 'search_grams'])
      if ('roomId' in scope) recent = recent.where(inScope(scope))
      else recent = recent.where('created_at', '<=', (eb) => newestOfMember(eb, scope.memberId))
      if (after) recent = recent.where(afterPosition(after))
      return recent.orderBy('created_at', 'desc').orderBy('room_id', 'desc').orderBy('seq', 'desc').limit(window)
    })
    .selectFrom('recent')
    .select(ENVELOPE_COLUMNS)
    .select(exactTime)
    .select((eb) => eb.selectFrom('recent').select(eb.fn.countAll<number>().as('n')).as('walked'))
    .$if('memberId' in scope, (qb) => qb.where(inScope(scope)))
    .where('deleted_at', 'is', null)
    // The grams first: a cheap test that spares most rows the normalization of the exact one.
    .where(sql<SqlBool>`search_grams @> ${queryGrams(text)}::text[]`)
    .where(bodyHoldsAll(words))
    .orderBy('created_at', 'desc').orderBy('room_id', 'desc').orderBy('seq', 'desc')
    .limit(limit + 1)
}

/**
 * No message of the member's rooms is newer than this: the latest
 * `last_message_at` of their rooms, which the commit function sets, in the
 * same statement as its messages, to the later of its stored value and
 * their `created_at` (migration 0011). The walk starts there, past the
 * newer traffic of rooms the member is not in.
 */
function newestOfMember(eb: ExpressionBuilder<Database, 'messages'>, memberId: string) {
  return eb.selectFrom('rooms')
    .innerJoin('room_members', 'room_members.room_id', 'rooms.id')
    .where('room_members.user_id', '=', memberId)
    .select((eb) => eb.fn.max('rooms.last_message_at').as('newest'))
}

/** Newest messages a search walks before it turns to the word index, by default. */
const RECENT_WINDOW = 2000

/** The exact time as text: a JS Date would cut it to milliseconds and pages would repeat or skip rows. */
const exactTime = sql<string>`to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('exact_at')

/** A matching row, with its exact time for the cursor. */
type SearchRow = EnvelopeRow & { exact_at: string }

/** Every query word occurs in the normalized body (substring, so grams that only appear apart do not count). */
function bodyHoldsAll(words: string[]): (eb: ExpressionBuilder<any, any>) => Expression<SqlBool> {
  return (eb) => eb.and(words.map((word) => sql<SqlBool>`strpos(translate(lower(normalize(body, NFKC)), 'ς', 'σ'), translate(lower(normalize(${word}, NFKC)), 'ς', 'σ')) > 0`))
}

/** Strictly after `position` in result order (newest first). */
function afterPosition(position: Position): Expression<SqlBool> {
  return sql<SqlBool>`(created_at, room_id, seq) < (${position.at}::timestamptz, ${position.roomId}, ${position.id})`
}
