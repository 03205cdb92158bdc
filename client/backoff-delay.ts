/** Settings of the reconnect backoff. */
export interface BackoffOptions {
  /** Delay ceiling of the first retry, in ms (default 500). */
  initialMs?: number
  /** Largest delay, in ms (default 30 000). */
  maxMs?: number
}

/**
 * The wait before reconnect attempt `attempt` (0 = first retry): the ceiling
 * doubles each attempt up to `maxMs`, and the delay is drawn between half
 * the ceiling and the ceiling ("equal jitter"), so thousands of clients cut
 * off together do not come back in lockstep, yet none retries at once.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 500
  const max = options.maxMs ?? 30_000
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}
