import { ChatError } from '../errors.ts'
import { wordsOf } from '../search/grams.ts'
import type { SearchPage, SearchRequest, SearchStore } from '../stores/search-store.ts'
import type { MembershipCache } from './membership-cache.ts'

/** Longest query, in characters after trimming. */
const SEARCH_QUERY_MAX = 200

const DEFAULT_LIMIT = 20

/** A search as a client asks for it: the query text, page size and the cursor of the previous page. */
export interface SearchParams {
  q: string
  limit?: number | undefined
  cursor?: string | undefined
}

/**
 * Message search for members: in one room, or across all of a user's rooms.
 * Every word of the query must appear in a message, anywhere inside its
 * words (so 회의 finds 회의를, "deploy" finds "Deployment"), ignoring case
 * and compatibility forms; results are newest first, a page at a time.
 */
export class SearchService {
  readonly #store: SearchStore
  readonly #members: MembershipCache
  readonly #pageMax: number

  constructor(deps: { store: SearchStore; members: MembershipCache; pageMax: number }) {
    this.#store = deps.store
    this.#members = deps.members
    this.#pageMax = deps.pageMax
  }

  /** Matches in one room, for a member; `room_not_found` for anyone else and for unknown rooms. */
  async inRoom(userId: string, roomId: string, params: SearchParams): Promise<SearchPage> {
    const request = this.#request(params)
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
    return this.#store.inRoom(roomId, request)
  }

  /** Matches in every room the user is a member of. */
  async everywhere(userId: string, params: SearchParams): Promise<SearchPage> {
    return this.#store.inRoomsOf(userId, this.#request(params))
  }

  /** Checks the query and caps the page size; `validation_failed` naming `q` when the query has no word. */
  #request(params: SearchParams): SearchRequest {
    const text = params.q.trim()
    const problem = text.length === 0 ? 'enter something to search for'
      : Array.from(text).length > SEARCH_QUERY_MAX ? `at most ${SEARCH_QUERY_MAX} characters`
      : wordsOf(text).length === 0 ? 'needs at least one letter or digit'
      : undefined
    if (problem) throw new ChatError('validation_failed', `q: ${problem}`, { issues: [{ path: 'q', message: problem }] })
    return { text, limit: Math.min(params.limit ?? DEFAULT_LIMIT, this.#pageMax), cursor: params.cursor }
  }
}
