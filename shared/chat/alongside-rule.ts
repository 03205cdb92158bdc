/**
 * Fewest messages for a batch to start while another commits (for up to
 * {@link ALONGSIDE_WAIT_MS}). Two small commits at once contend in Postgres
 * (the same index pages, the same log flush) and each took 60-80% longer
 * than one alone, while the messages waiting for the current commit would
 * only have made the next batch larger. A second connection pays once one
 * connection cannot keep up (docs/PERFORMANCE.md, "One small commit at a
 * time").
 */
export const ALONGSIDE_BATCH_MIN = 32

/**
 * How long the oldest committing batch holds back a smaller one: a commit
 * that waits for a row lock (a membership change, an account update) or a
 * slow connection must not stall every other room. Above a commit's p99 in
 * the bench's chat scenario (9-15 ms). The README, `shared/config.ts` and
 * docs/ARCHITECTURE.md name both figures: change them together.
 */
export const ALONGSIDE_WAIT_MS = 20

/**
 * When the group-commit writer may start a batch while others commit: with
 * one message when none commits, else with {@link ALONGSIDE_BATCH_MIN} (or
 * the batch limit, if smaller) until the oldest commit has taken `waitMs`.
 * It keeps the committing batches' start times, and a timer that looks
 * again when held-back messages may go.
 */
export class AlongsideRule {
  readonly #batchMax: number
  readonly #waitMs: number
  readonly #lookAgain: () => void
  /** When each committing batch started, oldest first. */
  readonly #startTimes: number[] = []
  #timer: NodeJS.Timeout | undefined

  /** `lookAgain` is called when messages held back may now go. */
  constructor(batchMax: number, waitMs: number, lookAgain: () => void) {
    this.#batchMax = batchMax
    this.#waitMs = waitMs
    this.#lookAgain = lookAgain
  }

  /** Fewest messages a batch needs to start now. */
  fewest(): number {
    const oldest = this.#startTimes[0]
    if (oldest === undefined || performance.now() - oldest >= this.#waitMs) return 1
    return Math.min(ALONGSIDE_BATCH_MIN, this.#batchMax)
  }

  /** Notes that a batch started; call the returned function when it no longer commits. */
  started(): () => void {
    const startedAt = performance.now()
    this.#startTimes.push(startedAt)
    return () => {
      this.#startTimes.splice(this.#startTimes.indexOf(startedAt), 1)
    }
  }

  /** Messages were held back: look again when the oldest commit will have held them for `waitMs`. */
  heldBack(): void {
    const oldest = this.#startTimes[0]
    if (this.#timer || oldest === undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#lookAgain()
    }, Math.max(1, Math.ceil(oldest + this.#waitMs - performance.now())))
    this.#timer.unref()
  }
}
