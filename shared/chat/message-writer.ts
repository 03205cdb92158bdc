import { ChatError } from '../errors.ts'
import type { CommitOutcome, MessageStore, PendingMessage } from '../stores/message-store.ts'
import { prepareMessage, type PreparedMessage } from '../stores/prepared-message.ts'
import type { Logger } from '../logger.ts'
import type { WriterObserver } from '../metrics.ts'
import { ALONGSIDE_WAIT_MS, AlongsideRule } from './alongside-rule.ts'

interface Waiting {
  /** Prepared when written, so that a batch's turn only joins strings. */
  prepared: PreparedMessage
  resolve(outcome: CommitOutcome): void
  reject(err: unknown): void
}

/** Limits of the writer, from config. */
export interface WriterLimits {
  /** Most messages in one transaction. */
  batchMax: number
  /** Most messages waiting or committing; further writes are refused with `server_busy`. */
  queueMax: number
  /** Most batches committing at once (each on its own database connection). */
  concurrency: number
  /** How long a commit holds back a smaller batch ({@link AlongsideRule}; default {@link ALONGSIDE_WAIT_MS}). */
  alongsideWaitMs?: number
}

/**
 * Group commit: messages that arrive while a batch is committing wait and
 * go together in the next one, so under load many publishes share one
 * commit while a lone message is committed at once, with no timer delay.
 * A write's promise settles only after its transaction has committed.
 *
 * Under load, or behind a slow commit ({@link AlongsideRule}), up to
 * `concurrency` batches of different rooms commit at once; a room's
 * messages are numbered in the order they were written.
 */
export class MessageWriter {
  readonly #store: MessageStore
  readonly #limits: WriterLimits
  readonly #log: Logger
  #queue: Waiting[] = []
  #committing = 0
  #committingMessages = 0
  readonly #busyRooms = new Set<string>()
  #scheduled = false
  readonly #alongside: AlongsideRule
  #idleWaiters: Array<() => void> = []
  /** Settles once the senders of every batch committed so far are answered. */
  #answered: Promise<void> = Promise.resolve()
  /** Transactions committed, messages in them, and the largest batch so far. */
  readonly stats = { commits: 0, messages: 0, largestBatch: 0 }
  /** Told of every batch, for metrics; may also be set by the composition root before the first write. */
  observer: WriterObserver | undefined

  constructor(store: MessageStore, limits: WriterLimits, log: Logger, observer?: WriterObserver) {
    this.#store = store
    this.#limits = limits
    this.#alongside = new AlongsideRule(limits.batchMax, limits.alongsideWaitMs ?? ALONGSIDE_WAIT_MS, () => this.#startBatches())
    this.#log = log
    this.observer = observer
  }

  /** Messages waiting for, or in, a commit (the queue depth). */
  get pending(): number {
    return this.#queue.length + this.#committingMessages
  }

  /** Commits `message` with whatever else is waiting; resolves once it is durable. */
  write(message: PendingMessage): Promise<CommitOutcome> {
    if (this.pending >= this.#limits.queueMax) {
      return Promise.reject(new ChatError('server_busy', 'Too many messages are waiting to be stored; retry later.'))
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ prepared: prepareMessage(message), resolve, reject })
      if (this.#scheduled || this.#committing >= this.#limits.concurrency) return
      // Let the current tick's publishes join the batch.
      this.#scheduled = true
      setImmediate(() => {
        this.#scheduled = false
        this.#startBatches()
      })
    })
  }

  /** Resolves when nothing is waiting, in flight, or committed and not yet answered (for shutdown). */
  idle(): Promise<void> {
    if (this.pending === 0) return this.#answered
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /** Starts as many batches as the limits allow; how many it started. */
  #startBatches(): number {
    let started = 0
    while (this.#committing < this.#limits.concurrency && this.#queue.length > 0) {
      const fewest = this.#alongside.fewest()
      const batch = this.#takeBatch(fewest)
      if (batch.length === 0) {
        if (fewest > 1) this.#alongside.heldBack()
        break
      }
      started++
      const rooms = new Set(batch.map((w) => w.prepared.message.roomId))
      for (const room of rooms) this.#busyRooms.add(room)
      this.#committing++
      this.#committingMessages += batch.length
      const ended = this.#alongside.started()
      const release = () => {
        for (const room of rooms) this.#busyRooms.delete(room)
        this.#committing--
        this.#committingMessages -= batch.length
        ended()
        return this.#startBatches()
      }
      void this.#commitOrSplit(batch, release).finally(() => {
        if (this.pending > 0) return
        const waiters = this.#idleWaiters.splice(0)
        void this.#answered.then(() => waiters.forEach((resolve) => resolve()))
      })
    }
    return started
  }

  /**
   * The next batch: the oldest waiting messages of rooms no committing batch
   * holds, or none when fewer than `fewest` could go. Two batches of one
   * room could reach its lock in either order (each has its own
   * connection), so a room is in one batch at a time; its later messages
   * wait for the next.
   */
  #takeBatch(fewest: number): Waiting[] {
    if (fewest > 1 && !this.#freeAtLeast(fewest)) return []
    const batch: Waiting[] = []
    const left: Waiting[] = []
    for (const waiting of this.#queue) {
      if (batch.length < this.#limits.batchMax && this.#isFree(waiting)) batch.push(waiting)
      else left.push(waiting)
    }
    this.#queue = left
    return batch
  }

  /** Whether no committing batch holds `waiting`'s room. */
  #isFree(waiting: Waiting): boolean {
    return !this.#busyRooms.has(waiting.prepared.message.roomId)
  }

  /** Whether at least `count` waiting messages are free; stops counting at `count`. */
  #freeAtLeast(count: number): boolean {
    let found = 0
    for (const waiting of this.#queue) if (this.#isFree(waiting) && ++found >= count) return true
    return false
  }

  /**
   * One bad row must not sink its neighbours: a batch the database refused
   * for its data (SQLSTATE class 22 or 23) is retried one by one. Any other
   * failure (a lost connection, a timeout) would fail each retry the same
   * way, one timeout after another, so the whole batch is refused at once.
   *
   * `release` frees the batch's rooms and starts the next batch before the
   * senders are answered, so that Postgres commits the next batch while
   * this process delivers and acknowledges this one. The answers wait for
   * the next turn of the event loop when a batch was started: the query
   * goes out after a few promise steps, which would otherwise queue behind
   * every sender's delivery.
   */
  async #commitOrSplit(batch: Waiting[], release: () => number): Promise<void> {
    const first = await this.#commit(batch)
    if (first.ok) {
      const startedNext = release() > 0
      return this.#inTurn(() => this.#settle(batch, first.outcomes), startedNext)
    }
    if (batch.length > 1 && isDataError(first.error)) {
      for (const waiting of batch) {
        const single = await this.#commit([waiting])
        await this.#inTurn(() => (single.ok ? this.#settle([waiting], single.outcomes) : this.#refuse([waiting], single.error)), false)
      }
      release()
      return
    }
    release()
    return this.#inTurn(() => this.#refuse(batch, first.error), false)
  }

  /**
   * Runs `answer` after every answer of a batch committed earlier, and
   * after the event loop's next turn if `nextTurn`: senders are answered,
   * and their messages delivered, in commit order, so a room's messages
   * (and their senders' PUBACKs) go out in their numbers' order.
   */
  #inTurn(answer: () => void, nextTurn: boolean): Promise<void> {
    const before: Promise<unknown> = nextTurn ? Promise.all([this.#answered, new Promise((resolve) => setImmediate(resolve))]) : this.#answered
    this.#answered = before.then(() => {
      try {
        answer()
      } catch (err) {
        this.#log.error({ err }, 'answering committed messages failed')
      }
    })
    return this.#answered
  }

  /** Commits `batch`: its outcomes, or the error. Settles no promise. */
  async #commit(batch: Waiting[]): Promise<{ ok: true; outcomes: CommitOutcome[] } | { ok: false; error: unknown }> {
    const started = performance.now()
    try {
      const outcomes = await this.#store.commitBatch(batch.map((w) => w.prepared))
      this.stats.commits++
      this.stats.messages += batch.length
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length)
      this.observer?.committed(batch.length, (performance.now() - started) / 1000)
      return { ok: true, outcomes }
    } catch (err) {
      this.observer?.failed(batch.length)
      return { ok: false, error: err ?? new Error('commit failed') }
    }
  }

  /** Tells the senders of a committed batch what became of their messages. */
  #settle(batch: Waiting[], outcomes: CommitOutcome[]): void {
    batch.forEach((waiting, i) => waiting.resolve(outcomes[i]!))
  }

  /** Tells the senders of `batch` that nothing was stored: they get no acknowledgement and resend. */
  #refuse(batch: Waiting[], err: unknown): void {
    for (const waiting of batch) waiting.reject(new ChatError('server_busy', 'The message could not be stored; retry later.'))
    this.#log.error({ err, messages: batch.length }, 'messages failed to commit; the senders get no acknowledgement')
  }
}

/** Whether Postgres refused the data itself (data exception or integrity violation), not the connection. */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code)
}
