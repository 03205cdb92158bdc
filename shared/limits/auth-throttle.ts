import type { RedisLink } from './redis-link.ts'
import { ChatError } from '../errors.ts'
import { createRateLimiter } from './cluster-rate-limiter.ts'
import type { RateLimit, RateLimiter } from './rate-limiter.ts'

/** The token buckets that bound password guessing and account creation. */
export interface AuthLimits {
  /** Failed logins per username (any case), whoever sends them. */
  usernameFailures: RateLimit
  /** Failed logins per client address, whatever the username. */
  addressFailures: RateLimit
  /** Registrations per client address (each hashes a password, taken or not). */
  addressRegistrations: RateLimit
}

/**
 * The key of a client address: an IPv4 address as it is, an IPv6 address by
 * its /64 (one subscriber is usually given a whole /64, so its single
 * addresses would be free to switch between), an IPv4-mapped IPv6 address
 * as its IPv4 address.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (!address.includes(':')) return address
  const [head = '', tail] = address.toLowerCase().split('%')[0]!.split('::')
  const headGroups = head ? head.split(':') : []
  const tailGroups = tail === undefined ? [] : tail ? tail.split(':') : []
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups]
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}

/**
 * Throttles logins and registrations with token buckets (in Redis for a
 * cluster, else per node). A login takes a token from its username's bucket
 * and from its address's bucket before the password is hashed, and puts both
 * back when it succeeds, so only failures count, and a burst of parallel
 * guesses cannot pass before the first failures are counted. The username's
 * bucket refills, so an attacker can keep a victim's account throttled only
 * while sending failures, and the victim waits at most one refill interval
 * after the attacker stops.
 */
export class AuthThrottle {
  readonly #usernames: RateLimiter
  readonly #addressFailures: RateLimiter
  readonly #registrations: RateLimiter

  constructor(limiters: { usernameFailures: RateLimiter; addressFailures: RateLimiter; addressRegistrations: RateLimiter }) {
    this.#usernames = limiters.usernameFailures
    this.#addressFailures = limiters.addressFailures
    this.#registrations = limiters.addressRegistrations
  }

  /**
   * Runs `attempt` (the password check) unless `username` or `address` has
   * had too many failures lately: then `rate_limited` with `retryAfterMs`.
   * Only an `invalid_credentials` refusal counts as a failure.
   */
  async login<T>(username: string, address: string | undefined, attempt: () => Promise<T>): Promise<T> {
    const addressKeyed = `login-address:${addressKey(address)}`
    const usernameKeyed = `login-username:${username.toLowerCase()}`
    const byAddress = await this.#addressFailures.take(addressKeyed)
    if (!byAddress.allowed) throw refused('Too many failed logins from this address', byAddress.retryAfterMs)
    const byUsername = await this.#usernames.take(usernameKeyed)
    if (!byUsername.allowed) {
      await this.#addressFailures.refund(addressKeyed)
      throw refused('Too many failed logins for this username', byUsername.retryAfterMs)
    }
    let failed = false
    try {
      return await attempt()
    } catch (err) {
      failed = err instanceof ChatError && err.code === 'invalid_credentials'
      throw err
    } finally {
      if (!failed) await Promise.all([this.#addressFailures.refund(addressKeyed), this.#usernames.refund(usernameKeyed)])
    }
  }

  /** Runs `attempt` (a registration) unless `address` has registered too often lately: then `rate_limited`. */
  async register<T>(address: string | undefined, attempt: () => Promise<T>): Promise<T> {
    const decision = await this.#registrations.take(`register-address:${addressKey(address)}`)
    if (!decision.allowed) throw refused('Too many registrations from this address', decision.retryAfterMs)
    return attempt()
  }
}

function refused(what: string, retryAfterMs: number): ChatError {
  return new ChatError('rate_limited', `${what}; retry in ${Math.ceil(retryAfterMs / 1000)} s.`, { retryAfterMs })
}

/** An {@link AuthThrottle} with buckets in Redis when there is a link to it (one limit for the cluster), else in this process. */
export function createAuthThrottle(limits: AuthLimits, link?: RedisLink): AuthThrottle {
  return new AuthThrottle({
    usernameFailures: createRateLimiter(limits.usernameFailures, link),
    addressFailures: createRateLimiter(limits.addressFailures, link),
    addressRegistrations: createRateLimiter(limits.addressRegistrations, link),
  })
}
