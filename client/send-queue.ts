import type { MqttClient } from 'mqtt'
import { ChatApiError } from './chat-api-error.ts'
import type { ChatEvents, ChatMessage } from './chat-types.ts'
import type { Outbox, OutboxEntry } from './outbox.ts'
import type { RestClient } from './rest-client.ts'

/**
 * Publishes the outbox while online and makes sure each message ends
 * stored or refused. A PUBACK means stored or refused (MQTT 3.1.1 has no
 * negative PUBACK), so after it the queue waits for the message's echo on
 * the room topic or an error report; when neither comes (the echo of a
 * resend of a stored message is not sent again), it asks REST with the same
 * client message id, which answers with the stored message without storing
 * it twice. Entries that fail retryably go out again later.
 */
export class SendQueue {
  readonly #outbox: Outbox
  readonly #api: RestClient
  readonly #echoTimeoutMs: number
  readonly #stored: (message: ChatMessage) => void
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  #client: MqttClient | undefined
  #generation = 0
  #userId = ''
  #closed = false

  constructor(outbox: Outbox, api: RestClient, echoTimeoutMs: number, stored: (message: ChatMessage) => void) {
    this.#outbox = outbox
    this.#api = api
    this.#echoTimeoutMs = echoTimeoutMs
    this.#stored = stored
  }

  /** A connection is up and caught up: send everything waiting, oldest first. */
  online(client: MqttClient, generation: number, userId: string): void {
    this.#client = client
    this.#generation = generation
    this.#userId = userId
    this.flush()
  }

  /** The connection is gone: entries in flight go out again on the next one. */
  offline(): void {
    this.#client = undefined
  }

  /** Publishes every entry not yet sent on this connection (and not waiting out a rate limit). */
  flush(): void {
    if (!this.#client || this.#closed) return
    const now = Date.now()
    for (const entry of this.#outbox.entries()) {
      if (entry.sentOn === this.#generation || entry.notBefore > now) continue
      this.#publish(this.#client, entry)
    }
  }

  /** A refusal reported on `user/<me>/errors`: retry later when it says so, else fail the send. */
  refused(error: ChatEvents['error']): void {
    const entry = error.clientMsgId ? this.#outbox.get(error.clientMsgId) : undefined
    if (!entry) return
    if (error.code === 'rate_limited') return this.#retryLater(entry, error.retryAfterMs ?? 1000)
    this.#outbox.fail(entry.clientMsgId, new ChatApiError(error.code, error.message))
  }

  /** Stops every timer. */
  close(): void {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
  }

  #publish(client: MqttClient, entry: OutboxEntry): void {
    const generation = this.#generation
    entry.sentOn = generation
    entry.attempts++
    entry.acked = false
    const payload = JSON.stringify({ id: entry.clientMsgId, body: entry.body })
    client.publish(`chat/${entry.roomId}/${this.#userId}`, payload, { qos: 1 }, (err) => {
      // No PUBACK (the connection dropped): the next connection sends it again.
      if (err || this.#outbox.get(entry.clientMsgId) !== entry || entry.sentOn !== generation) return
      entry.acked = true
      this.#after(this.#echoTimeoutMs, () => void this.#confirm(entry, generation))
    })
  }

  /** No echo and no refusal since the PUBACK: ask REST for the stored message. */
  async #confirm(entry: OutboxEntry, generation: number): Promise<void> {
    if (this.#outbox.get(entry.clientMsgId) !== entry || !entry.acked || entry.sentOn !== generation) return
    try {
      this.#stored(await this.#api.postMessage(entry.roomId, entry.clientMsgId, entry.body))
    } catch (err) {
      const error = err instanceof ChatApiError ? err : new ChatApiError('internal', String(err))
      if (!error.retryable) return this.#outbox.fail(entry.clientMsgId, error)
      const retryAfterMs = (error.details as { retryAfterMs?: number } | undefined)?.retryAfterMs
      this.#retryLater(entry, retryAfterMs ?? this.#echoTimeoutMs)
    }
  }

  #retryLater(entry: OutboxEntry, delayMs: number): void {
    entry.sentOn = undefined
    entry.acked = false
    entry.notBefore = Date.now() + delayMs
    this.#after(delayMs, () => this.flush())
  }

  #after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => { this.#timers.delete(timer); fn() }, ms)
    this.#timers.add(timer)
  }
}
