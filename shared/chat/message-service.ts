import { ChatError } from '../errors.ts'
import { validateBody, validateMessage, type MessageEnvelope, type OutgoingMessage } from '../protocol.ts'
import type { RateLimiter } from '../limits/rate-limiter.ts'
import type { Realtime } from '../realtime.ts'
import type { MessageStore, PendingMessage } from '../stores/message-store.ts'
import type { PageQuery } from '../stores/page-query.ts'
import type { RoomStore } from '../stores/room-store.ts'
import type { MembershipCache } from './membership-cache.ts'
import type { MessageWriter } from './message-writer.ts'

/** The result of a send: the stored message, and whether it had been stored before (a resend). */
export interface SendResult {
  message: MessageEnvelope
  duplicate: boolean
}

/**
 * The one message path. MQTT and HTTP both call {@link send}: it checks
 * membership (from the cache, no query), numbers and stores the message by
 * group commit, delivers it to the room's subscribers, and resolves only once
 * the row is committed. Delivery does not depend on the sender still being
 * connected. A resend with the same sender and client id resolves to the
 * stored message with `duplicate: true` and is not delivered again.
 */
export class MessageService {
  readonly #members: MembershipCache
  readonly #writer: MessageWriter
  readonly #store: MessageStore
  readonly #rooms: RoomStore
  readonly #realtime: Realtime
  readonly #rate: RateLimiter
  readonly #resendChecks: RateLimiter
  readonly #limits: { maxBodyBytes: number; pageMax: number }
  readonly #storedObservers: Array<(message: MessageEnvelope) => void> = []

  constructor(deps: { members: MembershipCache; writer: MessageWriter; store: MessageStore; rooms: RoomStore; realtime: Realtime; rate: RateLimiter; resendChecks: RateLimiter; maxBodyBytes: number; pageMax: number }) {
    this.#members = deps.members
    this.#writer = deps.writer
    this.#store = deps.store
    this.#rooms = deps.rooms
    this.#realtime = deps.realtime
    this.#rate = deps.rate
    this.#resendChecks = deps.resendChecks
    this.#limits = { maxBodyBytes: deps.maxBodyBytes, pageMax: deps.pageMax }
  }

  /**
   * Calls `observer` with every newly stored message (not resends), after
   * its delivery and before the send resolves, i.e. before the PUBACK: it
   * must return at once and leave any work for later (push notifications).
   */
  onStored(observer: (message: MessageEnvelope) => void): void {
    this.#storedObservers.push(observer)
  }

  /** Largest body accepted, in UTF-8 bytes. */
  get maxBodyBytes(): number {
    return this.#limits.maxBodyBytes
  }

  /** Checks untrusted fields against the message rules (see `validateMessage`). */
  validate(clientMsgId: unknown, body: unknown): OutgoingMessage {
    return validateMessage(clientMsgId, body, this.#limits.maxBodyBytes)
  }

  /**
   * Authorizes, rate-limits, durably stores and then delivers an
   * already-validated message. Over the sender's rate a message is refused
   * with `rate_limited`, unless it is a resend of a stored one: a client that
   * resends after a lost PUBACK must learn that its message is safe. Looking
   * for the stored one is a query, so it has a budget of its own (`resendChecks`,
   * the size of the message rate): a sender flooding over the rate cannot turn
   * each refused packet into database work. A resend refused for want of it is
   * retried later and then answered as the duplicate it is.
   */
  async send(senderId: string, roomId: string, message: OutgoingMessage): Promise<SendResult> {
    if (!(await this.#members.isMember(roomId, senderId))) throw new ChatError('room_not_found')
    const rate = await this.#rate.take(senderId)
    if (!rate.allowed) {
      if ((await this.#resendChecks.take(resendCheckKey(senderId))).allowed) {
        const stored = await this.#store.findByClientId(roomId, senderId, message.clientMsgId)
        if (stored) return { message: stored, duplicate: true }
      }
      throw new ChatError('rate_limited', `Over the message rate; retry in ${rate.retryAfterMs} ms.`, { clientMsgId: message.clientMsgId, retryAfterMs: rate.retryAfterMs })
    }
    return this.#commitAndDeliver({ roomId, senderId, clientMsgId: message.clientMsgId, body: message.body })
  }

  /**
   * An announcement from the service, sent as `systemId` (the reserved system user, never a member):
   * numbered, stored, deduplicated and delivered like any message, without the membership check and
   * the rate limit. `room_not_found` when the room does not exist.
   */
  async sendSystem(systemId: string, roomId: string, message: OutgoingMessage): Promise<SendResult> {
    return this.#commitAndDeliver({ roomId, senderId: systemId, clientMsgId: message.clientMsgId, body: message.body, system: true })
  }

  /** Group-commits `pending`, then delivers it unless it was a resend. */
  async #commitAndDeliver(pending: PendingMessage): Promise<SendResult> {
    const outcome = await this.#writer.write(pending)
    if (outcome.kind === 'room_gone') throw new ChatError('room_not_found')
    const duplicate = outcome.kind === 'duplicate'
    if (!duplicate) {
      this.#realtime.deliver(outcome.message)
      for (const observer of this.#storedObservers) observer(outcome.message)
    }
    return { message: outcome.message, duplicate }
  }

  /** Edits and deletes cost the sender a message from the same rate budget as sends (they write and fan out as much). */
  async #spendRate(userId: string, details: Record<string, unknown>): Promise<void> {
    const rate = await this.#rate.take(userId)
    if (!rate.allowed) throw new ChatError('rate_limited', `Over the message rate; retry in ${rate.retryAfterMs} ms.`, { ...details, retryAfterMs: rate.retryAfterMs })
  }

  /** A page of a room's history for a member; `room_not_found` for anyone else. */
  async history(userId: string, roomId: string, query: PageQuery): Promise<{ messages: MessageEnvelope[]; hasMore: boolean }> {
    const page = { ...query, limit: Math.min(query.limit, this.#limits.pageMax) }
    if (this.#members.isFresh(roomId)) {
      await this.#requireMember(userId, roomId)
      return this.#store.page(roomId, page)
    }
    // Not cached: the page's own query checks membership, one round trip instead of two. An empty
    // answer may mean "not a member", which the usual check then tells apart from an empty range.
    const result = await this.#store.page(roomId, page, userId)
    if (result.messages.length === 0) await this.#requireMember(userId, roomId)
    return result
  }

  /** One message of a room, for a member. */
  async get(userId: string, roomId: string, id: number): Promise<MessageEnvelope> {
    await this.#requireMember(userId, roomId)
    const message = await this.#store.get(roomId, id)
    if (!message) throw new ChatError('message_not_found')
    return message
  }

  /** Replaces the body of the sender's own message; the room's members get an `edit` event. */
  async edit(userId: string, roomId: string, id: number, body: unknown): Promise<MessageEnvelope> {
    const text = validateBody(body, this.#limits.maxBodyBytes, { messageId: id })
    await this.#checkOwn(userId, roomId, id)
    await this.#spendRate(userId, { messageId: id })
    const message = await this.#store.edit(roomId, id, userId, text)
    if (!message) throw new ChatError('message_deleted')
    this.#realtime.roomEvent({ type: 'edit', roomId, message })
    return message
  }

  /**
   * Deletes the sender's own message: it keeps its number and place in
   * history without its body; the room's members get a `delete` event.
   * Deleting a deleted message changes nothing and sends nothing.
   */
  async remove(userId: string, roomId: string, id: number): Promise<MessageEnvelope> {
    const before = await this.#checkOwn(userId, roomId, id)
    if (before.deletedAt) return before
    await this.#spendRate(userId, { messageId: id })
    const message = await this.#store.delete(roomId, id, userId)
    if (!message) return this.#store.get(roomId, id) as Promise<MessageEnvelope>
    this.#realtime.roomEvent({ type: 'delete', roomId, id, deletedAt: message.deletedAt! })
    return message
  }

  /**
   * Catch-up after a reconnect: for each of the user's rooms, the messages
   * after the number the client last saw (0 or absent: from the start), at
   * most `limit` per room with `hasMore`. Rooms the client named that the
   * user is no longer in come back in `removedRoomIds`.
   */
  async sync(userId: string, lastSeen: Readonly<Record<string, number>>, limit: number): Promise<{ rooms: Record<string, { messages: MessageEnvelope[]; hasMore: boolean }>; removedRoomIds: string[] }> {
    const roomIds = await this.#rooms.roomIdsOf(userId)
    const mine = new Set(roomIds)
    const positions = new Map(roomIds.map((roomId) => [roomId, lastSeen[roomId] ?? 0]))
    const pages = await this.#store.after(positions, limit)
    return { rooms: Object.fromEntries(pages), removedRoomIds: Object.keys(lastSeen).filter((roomId) => !mine.has(roomId)) }
  }

  async #requireMember(userId: string, roomId: string): Promise<void> {
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
  }

  /** The message, once it is known to exist and to be `userId`'s own. */
  async #checkOwn(userId: string, roomId: string, id: number): Promise<MessageEnvelope> {
    const message = await this.get(userId, roomId, id)
    if (message.senderId !== userId) throw new ChatError('not_message_sender')
    return message
  }
}

/** The resend-check bucket's key, apart from the message rate's own bucket (keyed by the bare user id). */
function resendCheckKey(senderId: string): string {
  return `resend-checks:${senderId}`
}
