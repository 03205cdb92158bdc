import type { Logger } from '../logger.ts'
import type { PendingStore } from './push-pending.ts'
import type { PushJob, PushQueue } from './push-queue.ts'
import type { PushSender } from './push-sender.ts'
import type { PushStore } from './push-store.ts'

/** Settings of the worker, from config. */
export interface WorkerOptions {
  /** How often to look for work queued by other nodes or come due. */
  pollMs: number
  /** Deliveries in flight at once on this node. */
  concurrency: number
  /** How long a claimed job is this node's before another may take it (longer than a try can last). */
  leaseMs: number
  preview: boolean
}

/** What the worker works with. */
export interface WorkerDeps {
  pending: PendingStore
  queue: PushQueue
  store: PushStore
  send: PushSender
  /** Whether the user has a live connection anywhere (the presence registry). */
  isOnline: (userId: string) => Promise<boolean>
  log: Logger
}

/**
 * Told of every try's outcome (for metrics; the shape of `shared/metrics.ts`'s
 * `PushMetrics`). `failed` is called once per failed try, with `gone`
 * (404/410), `rejected` (another 4xx, not retried) or `unavailable` (5xx,
 * 408, 429, network, timeout: retried while tries are left).
 */
export interface PushObserver {
  sent(): void
  failed(reason: 'gone' | 'rejected' | 'unavailable'): void
}

/** Counts since start, for metrics. */
export interface PushStats {
  sent: number
  failed: number
  retried: number
  removedSubscriptions: number
}

/**
 * Runs the push work of one node, entirely off the message path: turns due
 * collapse rows into deliveries, and delivers them with at most
 * `concurrency` tries in flight, each independent, so one slow push service
 * holds up neither chat nor the other deliveries. Wakes at once for work of
 * its own, on timers for retries and collapse windows it knows of, and every
 * `pollMs` for the rest.
 */
export class PushWorker {
  readonly stats: PushStats = { sent: 0, failed: 0, retried: 0, removedSubscriptions: 0 }
  observer: PushObserver | undefined
  readonly #deps: WorkerDeps
  readonly #options: WorkerOptions
  readonly #inFlight = new Set<Promise<void>>()
  readonly #timers = new Set<NodeJS.Timeout>()
  #running: Promise<void> | null = null
  /** When the earliest timer set by {@link wake} fires (later wake-ups are left to it or to the poll). */
  #nextTimer = Infinity
  #again = false
  #closed = false

  constructor(deps: WorkerDeps, options: WorkerOptions) {
    this.#deps = deps
    this.#options = options
    this.#every(options.pollMs)
  }

  /** Runs a round soon (or at `at`). Rounds never overlap: one asked for during a round follows it. */
  wake(at?: Date): void {
    if (this.#closed) return
    const delay = at ? at.getTime() - Date.now() : 0
    if (delay > 0) {
      if (at!.getTime() >= this.#nextTimer) return
      this.#nextTimer = at!.getTime()
      const timer = setTimeout(() => { this.#timers.delete(timer); this.#nextTimer = Infinity; this.wake() }, Math.min(delay, 2 ** 31 - 1))
      timer.unref()
      this.#timers.add(timer)
      return
    }
    if (this.#running) { this.#again = true; return }
    this.#running = this.#round().finally(() => {
      this.#running = null
      if (this.#again) { this.#again = false; this.wake() }
    })
  }

  /**
   * Stops taking work and waits up to `graceMs` for the tries in flight; a
   * try still hanging then is left to its lease, and another node (or this
   * one, restarted) tries the job again.
   */
  async close(graceMs = 2000): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    await this.#running
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(this.#inFlight), new Promise((resolve) => { timer = setTimeout(resolve, graceMs) })])
    clearTimeout(timer)
  }

  #every(ms: number): void {
    const timer = setInterval(() => this.wake(), ms)
    timer.unref()
    this.#timers.add(timer as unknown as NodeJS.Timeout)
  }

  async #round(): Promise<void> {
    const free = this.#options.concurrency - this.#inFlight.size
    try {
      await this.#deps.pending.promoteDue(Math.max(free, 1) * 4, { preview: this.#options.preview, isOnline: this.#deps.isOnline })
    } catch (err) {
      // Jobs already queued do not depend on it: one collapse row that cannot be promoted must not stop every delivery.
      this.#deps.log.warn({ err }, 'push promotion failed; queued deliveries still go out, promotion is retried at the next poll')
    }
    try {
      for (const job of await this.#deps.queue.claim(free, this.#options.leaseMs)) {
        const attempt: Promise<void> = this.#deliver(job).finally(() => { this.#inFlight.delete(attempt); this.wake() })
        this.#inFlight.add(attempt)
      }
    } catch (err) {
      this.#deps.log.warn({ err }, 'push round failed; retrying at the next poll')
    }
  }

  async #deliver(job: PushJob): Promise<void> {
    const { queue, store, send, log } = this.#deps
    try {
      const outcome = await send(job)
      if (outcome.kind === 'sent') {
        this.stats.sent++
        this.observer?.sent()
        await queue.complete(job.id)
      } else if (outcome.kind === 'gone') {
        this.stats.removedSubscriptions++
        this.observer?.failed('gone')
        log.info({ subscriptionId: job.subscription.id }, 'push subscription gone (404/410): deleted')
        await store.remove(job.subscription.id)
      } else {
        this.observer?.failed(outcome.retryable ? 'unavailable' : 'rejected')
        const retryAt = await queue.fail(job, outcome.error, outcome.retryable)
        if (retryAt) { this.stats.retried++; this.wake(retryAt) } else this.stats.failed++
        log.warn({ jobId: job.id, attempts: job.attempts, error: outcome.error, willRetry: retryAt !== undefined }, 'push delivery failed')
      }
    } catch (err) {
      // The database refused the bookkeeping: the lease runs out and the job is tried again.
      log.warn({ err, jobId: job.id }, 'push delivery not recorded')
    }
  }
}
