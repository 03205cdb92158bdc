import { ChatError } from '../errors.ts'
import type { CommitOutcome, MessageStore, PendingMessage } from '../stores/message-store.ts'
import type { Logger } from '../logger.ts'

interface Waiting {
  message: PendingMessage
  resolve(outcome: CommitOutcome): void
  reject(err: unknown): void
}

/** Limits of the writer, from config. */
export interface WriterLimits {
  /** Most messages in one transaction. */
  batchMax: number
  /** Most messages waiting; further writes are refused with `server_busy`. */
  queueMax: number
}

/**
 * Group commit: messages that arrive while a transaction is in flight wait
 * and go together in the next one, so under load many publishes share one
 * commit while a lone message is committed at once, with no timer delay.
 * A write's promise settles only after its transaction has committed.
 */
export class MessageWriter {
  readonly #store: MessageStore
  readonly #limits: WriterLimits
  readonly #log: Logger
  #queue: Waiting[] = []
  #flushing: Promise<void> | null = null
  /** Transactions committed, messages in them, and the largest batch so far. */
  readonly stats = { commits: 0, messages: 0, largestBatch: 0 }

  constructor(store: MessageStore, limits: WriterLimits, log: Logger) {
    this.#store = store
    this.#limits = limits
    this.#log = log
  }

  /** Commits `message` with whatever else is waiting; resolves once it is durable. */
  write(message: PendingMessage): Promise<CommitOutcome> {
    if (this.#queue.length >= this.#limits.queueMax) {
      return Promise.reject(new ChatError('server_busy', 'Too many messages are waiting to be stored; retry later.'))
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ message, resolve, reject })
      this.#flushing ??= this.#drain()
    })
  }

  /** Resolves when nothing is waiting or in flight (for shutdown). */
  async idle(): Promise<void> {
    while (this.#flushing) await this.#flushing
  }

  async #drain(): Promise<void> {
    // Let the current tick's publishes join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve))
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#limits.batchMax)
      if (!(await this.#commit(batch)) && batch.length > 1) {
        // One bad row must not sink its neighbours: retry them one by one.
        for (const waiting of batch) await this.#commit([waiting])
      }
      this.#queue.splice(0, batch.length)
    }
    this.#flushing = null
  }

  /**
   * Commits `batch` and settles its promises. On failure a single message is
   * rejected with `server_busy`; a larger batch is left for the caller to retry.
   */
  async #commit(batch: Waiting[]): Promise<boolean> {
    try {
      const outcomes = await this.#store.commitBatch(batch.map((w) => w.message))
      this.stats.commits++
      this.stats.messages += batch.length
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length)
      batch.forEach((waiting, i) => waiting.resolve(outcomes[i]!))
      return true
    } catch (err) {
      if (batch.length > 1) return false
      this.#log.error({ err }, 'message failed to commit; the sender gets no acknowledgement')
      batch[0]!.reject(new ChatError('server_busy', 'The message could not be stored; retry later.'))
      return false
    }
  }
}
