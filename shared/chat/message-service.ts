import { ChatError } from '../errors.ts'
import { validateMessage, type MessageEnvelope, type OutgoingMessage } from '../protocol.ts'
import type { MessageStore, PageQuery } from '../stores/message-store.ts'
import type { MembershipCache } from './membership-cache.ts'
import type { MessageWriter } from './message-writer.ts'

/** Delivers a stored message to the room's live subscribers (the broker adapter implements it). */
export interface MessageFanout {
  deliver(message: MessageEnvelope): void
}

/** The result of a send: the stored message, and whether it had been stored before (a resend). */
export interface SendResult {
  message: MessageEnvelope
  duplicate: boolean
}

/**
 * The one message path. MQTT and HTTP both call {@link send}: it checks
 * membership (from the cache, no query), numbers and stores the message by
 * group commit, and resolves only once the row is committed. A resend with
 * the same sender and client id resolves to the stored message with
 * `duplicate: true`, and must not be delivered again.
 */
export class MessageService {
  readonly #members: MembershipCache
  readonly #writer: MessageWriter
  readonly #store: MessageStore
  readonly #fanout: MessageFanout
  readonly #limits: { maxBodyBytes: number; pageMax: number }

  constructor(deps: { members: MembershipCache; writer: MessageWriter; store: MessageStore; fanout: MessageFanout; maxBodyBytes: number; pageMax: number }) {
    this.#members = deps.members
    this.#writer = deps.writer
    this.#store = deps.store
    this.#fanout = deps.fanout
    this.#limits = { maxBodyBytes: deps.maxBodyBytes, pageMax: deps.pageMax }
  }

  /** Largest body accepted, in UTF-8 bytes. */
  get maxBodyBytes(): number {
    return this.#limits.maxBodyBytes
  }

  /** Authorizes and durably stores an already-validated message; the caller delivers it. */
  async send(senderId: string, roomId: string, message: OutgoingMessage): Promise<SendResult> {
    if (!(await this.#members.isMember(roomId, senderId))) throw new ChatError('room_not_found')
    const outcome = await this.#writer.write({ roomId, senderId, clientMsgId: message.clientMsgId, body: message.body })
    if (outcome.kind === 'room_gone') throw new ChatError('room_not_found')
    return { message: outcome.message, duplicate: outcome.kind === 'duplicate' }
  }

  /** {@link send} for adapters without a delivery path of their own (HTTP): validates, stores, then delivers once. */
  async post(senderId: string, roomId: string, clientMsgId: unknown, body: unknown): Promise<SendResult> {
    const result = await this.send(senderId, roomId, validateMessage(clientMsgId, body, this.#limits.maxBodyBytes))
    if (!result.duplicate) this.#fanout.deliver(result.message)
    return result
  }

  /** A page of a room's history for a member; `room_not_found` for anyone else. */
  async history(userId: string, roomId: string, query: PageQuery): Promise<{ messages: MessageEnvelope[]; hasMore: boolean }> {
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
    return this.#store.page(roomId, { ...query, limit: Math.min(query.limit, this.#limits.pageMax) })
  }
}
