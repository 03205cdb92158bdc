import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { ENVELOPE_COLUMNS } from './envelope.ts'

/** A cursor page request over one room's history. */
export interface PageQuery {
  limit: number
  before?: number | undefined
  after?: number | undefined
}

/**
 * The query behind `MessageStore.page`: `limit + 1` rows beyond the cursor,
 * newest first unless paging forward with `after`; with `onlyForMember`,
 * none unless that user is in the room (an `EXISTS` Postgres runs once).
 */
export function pageQuery(db: Kysely<Database>, roomId: string, query: PageQuery, onlyForMember?: string) {
  let select = db.selectFrom('messages').select(ENVELOPE_COLUMNS).where('room_id', '=', roomId)
  if (onlyForMember !== undefined) {
    select = select.where(({ exists, selectFrom }) => exists(selectFrom('room_members').select('room_members.user_id')
      .where('room_members.room_id', '=', roomId).where('room_members.user_id', '=', onlyForMember)))
  }
  if (query.after !== undefined) select = select.where('seq', '>', query.after)
  if (query.before !== undefined) select = select.where('seq', '<', query.before)
  return select.orderBy('seq', query.after !== undefined ? 'asc' : 'desc').limit(query.limit + 1)
}
