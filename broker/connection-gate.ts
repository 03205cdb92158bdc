import { MemoryRateLimiter } from '../shared/limits/rate-limiter.ts'

/**
 * Admission of new connections per client IP: at most `perSecond` new
 * connections a second from one address (a token bucket of that size), so
 * a reconnect storm or a flood from one host cannot starve the node. Counted
 * per node: a load balancer spreads one host over the nodes anyway.
 */
export class ConnectionGate {
  readonly #limiter: MemoryRateLimiter
  /** Connections refused so far (for logs and metrics). */
  refused = 0

  constructor(perSecond: number, now?: () => number) {
    this.#limiter = new MemoryRateLimiter({ perMinute: perSecond * 60, burst: perSecond }, now)
  }

  /** Whether a new connection from `address` may proceed; synchronous, decided before any byte is read. */
  admit(address: string | undefined): boolean {
    const decision = this.#limiter.takeNow(address ?? 'unknown')
    if (!decision.allowed) this.refused++
    return decision.allowed
  }
}
