import type { ChatApiError } from './chat-api-error.ts'
import type { ChatMessage } from './chat-types.ts'

/** A message waiting to be known stored. */
export interface OutboxEntry {
  clientMsgId: string
  roomId: string
  body: string
  /** Times it was published (or posted). */
  attempts: number
  /** The connection it was last published on (a resend is due on any other). */
  sentOn: number | undefined
  /** Not before this time (epoch ms), e.g. after `rate_limited`. */
  notBefore: number
  /** Set once PUBACKed: the echo (or the REST fallback) should follow. */
  acked: boolean
  resolve(message: ChatMessage): void
  reject(error: ChatApiError): void
}

/**
 * Messages sent and not yet known stored, oldest first. An entry keeps its
 * client message id for every resend, so the server stores it once however
 * often it goes out; it leaves when the stored message is seen (echo,
 * catch-up or REST answer) or the server refuses it for good.
 */
export class Outbox {
  readonly #entries = new Map<string, OutboxEntry>()

  /** Queues a message; the promise settles when it is stored or refused. */
  add(roomId: string, clientMsgId: string, body: string): Promise<ChatMessage> {
    return new Promise((resolve, reject) => {
      this.#entries.set(clientMsgId, { clientMsgId, roomId, body, attempts: 0, sentOn: undefined, notBefore: 0, acked: false, resolve, reject })
    })
  }

  /** The entry of `clientMsgId`, if still waiting. */
  get(clientMsgId: string): OutboxEntry | undefined {
    return this.#entries.get(clientMsgId)
  }

  /** Every waiting entry, oldest first. */
  entries(): OutboxEntry[] {
    return [...this.#entries.values()]
  }

  /** How many messages wait. */
  get size(): number {
    return this.#entries.size
  }

  /** A stored message: settles its entry if it is one of ours. */
  stored(message: ChatMessage): boolean {
    const entry = this.#entries.get(message.clientMsgId)
    if (!entry || entry.roomId !== message.roomId) return false
    this.#entries.delete(message.clientMsgId)
    entry.resolve(message)
    return true
  }

  /** Refuses an entry for good. */
  fail(clientMsgId: string, error: ChatApiError): void {
    const entry = this.#entries.get(clientMsgId)
    if (!entry) return
    this.#entries.delete(clientMsgId)
    entry.reject(error)
  }

  /** Refuses every entry (the client is closing). */
  failAll(error: ChatApiError): void {
    for (const id of [...this.#entries.keys()]) this.fail(id, error)
  }
}
