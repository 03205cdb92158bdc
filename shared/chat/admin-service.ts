import { randomUUID } from 'node:crypto'
import { ChatError } from '../errors.ts'
import type { Realtime } from '../realtime.ts'
import { SYSTEM_USER_ID, type AdminStore, type AdminUser, type StoredCounts } from '../stores/admin-store.ts'
import type { MembershipService } from './membership-service.ts'
import type { MessageService, SendResult } from './message-service.ts'
import type { AccountService } from './account-service.ts'
import type { PresenceService } from './presence-service.ts'

/** What `GET /v1/admin/stats` answers: the database's counts and the live connections per node. */
export interface AdminStats extends StoredCounts {
  connections: { total: number; nodes: Array<{ nodeId: string; connections: number }> }
}

/** A page of the user list; `nextCursor` is null on the last page. */
export interface UserPage {
  users: AdminUser[]
  nextCursor: string | null
}

/**
 * What an admin of the service may do: list and search users, disable or
 * enable them and grant or revoke admin, delete any room, post system
 * messages and read counts. Each action reuses the path the rest of the
 * service uses (the membership service's deletion, the message path), so
 * members are told and caches kept as for any change. The adapters check
 * {@link requireAdmin} before calling anything else.
 */
export class AdminService {
  readonly #store: AdminStore
  readonly #messages: MessageService
  readonly #membership: MembershipService
  readonly #presence: PresenceService
  readonly #accounts: Pick<AccountService, 'forget'>
  readonly #realtime: Realtime

  constructor(deps: { store: AdminStore; messages: MessageService; membership: MembershipService; presence: PresenceService; accounts: Pick<AccountService, 'forget'>; realtime: Realtime }) {
    this.#store = deps.store
    this.#messages = deps.messages
    this.#membership = deps.membership
    this.#presence = deps.presence
    this.#accounts = deps.accounts
    this.#realtime = deps.realtime
  }

  /** Throws `forbidden` unless `userId` is an enabled admin (read from the database each time, so a revoke counts at once). */
  async requireAdmin(userId: string): Promise<void> {
    if (!(await this.#store.isAdmin(userId))) throw new ChatError('forbidden', 'Only an admin of the service may do that.')
  }

  /** Users by username (any case), optionally those whose username contains `query`, `limit` at a time. */
  async listUsers(opts: { query?: string | undefined; cursor?: string | undefined; limit: number }): Promise<UserPage> {
    const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor)
    const { users, hasMore } = await this.#store.list({ query: opts.query, after, limit: opts.limit })
    const last = users.at(-1)
    return { users, nextCursor: hasMore && last ? encodeCursor(last.username.toLowerCase()) : null }
  }

  /**
   * Disables or enables a user, or grants or revokes admin. Disabling is
   * committed first, so every token of the user is refused from then on
   * (REST 401, CONNACK 5); then every node closes the user's live
   * connections. An admin may not disable or demote themself, so the
   * service cannot be left without one by mistake.
   */
  async updateUser(adminId: string, userId: string, change: { disabled?: boolean | undefined; admin?: boolean | undefined }): Promise<AdminUser> {
    if (userId === adminId && (change.disabled === true || change.admin === false)) {
      throw new ChatError('forbidden', 'An admin may not disable or demote themself; ask another admin.')
    }
    const user = await this.#store.update(userId, change)
    if (!user) throw new ChatError('user_not_found')
    if (change.disabled !== undefined) {
      // At once on this node, and on every other through the note (this node applies it again, harmlessly).
      this.#accounts.forget(userId)
      this.#presence.setDisabled(userId, change.disabled)
      this.#realtime.broadcast({ kind: 'user_disabled', userId, disabled: change.disabled })
    }
    return user
  }

  /** Deletes any room, through the membership service: members get `room_deleted` and `room_left`, caches follow. */
  async deleteRoom(adminId: string, roomId: string): Promise<void> {
    await this.#membership.deleteRoom(adminId, roomId, true)
  }

  /**
   * Posts a system message through the one message path, as the system
   * user. `clientMsgId` makes a retry safe, as for any sender; without one a
   * fresh id is made.
   */
  async postSystemMessage(roomId: string, body: unknown, clientMsgId?: string): Promise<SendResult> {
    const message = this.#messages.validate(clientMsgId ?? `system-${randomUUID()}`, body)
    return this.#messages.sendSystem(SYSTEM_USER_ID, roomId, message)
  }

  /** Users, rooms and messages stored, and live connections per node. */
  async stats(): Promise<AdminStats> {
    const [counts, byNode] = await Promise.all([this.#store.counts(), this.#presence.connectionsByNode()])
    const nodes = [...byNode].map(([nodeId, connections]) => ({ nodeId, connections })).sort((a, b) => a.nodeId.localeCompare(b.nodeId))
    return { ...counts, connections: { total: nodes.reduce((sum, n) => sum + n.connections, 0), nodes } }
  }
}

function encodeCursor(afterUsername: string): string {
  return Buffer.from(JSON.stringify({ after: afterUsername })).toString('base64url')
}

/**
 * What a cursor's username may be: 1-64 characters (a login name's limit), no control characters
 * (a NUL would reach Postgres and fail the request with a 500) and no lone surrogates.
 */
const CURSOR_USERNAME = /^[^\p{Cc}\p{Cs}]{1,64}$/u

/** The username a cursor from {@link encodeCursor} continues after; `validation_failed` for anything else. */
function decodeCursor(cursor: string): string {
  try {
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown }
    if (typeof decoded.after === 'string' && CURSOR_USERNAME.test(decoded.after)) return decoded.after
  } catch {
    // Not JSON: refused below, like any cursor this server did not give out.
  }
  throw new ChatError('validation_failed', 'cursor is not one this server gave out.', { issues: [{ path: 'cursor', message: 'invalid cursor' }] })
}
