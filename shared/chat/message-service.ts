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
 * group commit, delivers it to the room's subscribers, and resolves only once
 * the row is committed. Delivery does not depend on the sender still being
 * connected. A resend with the same sender and client id resolves to the
 * stored message with `duplicate: true` and is not delivered again.
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

  /** Checks untrusted fields against the message rules (see `validateMessage`). */
  validate(clientMsgId: unknown, body: unknown): OutgoingMessage {
    return validateMessage(clientMsgId, body, this.#limits.maxBodyBytes)
  }

  /** Authorizes, durably stores and then delivers an already-validated message. */
  async send(senderId: string, roomId: string, message: OutgoingMessage): Promise<SendResult> {
    if (!(await this.#members.isMember(roomId, senderId))) throw new ChatError('room_not_found')
    const outcome = await this.#writer.write({ roomId, senderId, clientMsgId: message.clientMsgId, body: message.body })
    if (outcome.kind === 'room_gone') throw new ChatError('room_not_found')
    const duplicate = outcome.kind === 'duplicate'
    if (!duplicate) this.#fanout.deliver(outcome.message)
    return { message: outcome.message, duplicate }
  }

  /** A page of a room's history for a member; `room_not_found` for anyone else. */
  async history(userId: string, roomId: string, query: PageQuery): Promise<{ messages: MessageEnvelope[]; hasMore: boolean }> {
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
    return this.#store.page(roomId, { ...query, limit: Math.min(query.limit, this.#limits.pageMax) })
  }
}
