import { ChatApiError } from './chat-api-error.ts'

/** Where the SDK gets access tokens: a fixed one, or a function that fetches a fresh one. */
export interface TokenOptions {
  token?: string
  /** Called for the first token, before the current one expires, and when the server refuses one. */
  getToken?: () => string | Promise<string>
  /** How long before expiry to fetch a new token (default: a tenth of its lifetime, at most 60 s). */
  refreshMarginMs?: number
}

/** The claims the SDK reads from a token (it never verifies them; the server does). */
export function decodeTokenClaims(token: string): { sub: string; exp?: number; iat?: number } {
  const part = token.split('.')[1]
  if (!part) throw new ChatApiError('validation_failed', 'The access token is not a JWT.')
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=')
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  return JSON.parse(new TextDecoder().decode(bytes))
}

/**
 * Holds the current access token and replaces it, through `getToken`,
 * before it expires or once the server refuses it.
 */
export class TokenSource {
  readonly #options: TokenOptions
  #token: string | undefined
  #refused = false

  constructor(options: TokenOptions) {
    if (!options.token && !options.getToken) throw new ChatApiError('validation_failed', 'connect() needs a token or getToken.')
    this.#options = options
    this.#token = options.token
  }

  /** Whether a new token can be fetched. */
  get renewable(): boolean {
    return this.#options.getToken !== undefined
  }

  /** The token to use now: a fresh one when the current one is missing or due for refresh. */
  async current(): Promise<string> {
    if (this.#token === undefined || (this.renewable && (this.#refused || this.msUntilRefresh()! <= 0))) return this.refresh()
    return this.#token
  }

  /** Fetches a new token with `getToken` (the fixed token when there is none). */
  async refresh(): Promise<string> {
    if (!this.#options.getToken) return this.#token!
    const token = await this.#options.getToken()
    decodeTokenClaims(token)
    this.#token = token
    this.#refused = false
    return token
  }

  /** The server refused the current token: the next `current()` fetches another. */
  refused(): void {
    this.#refused = true
  }

  /** The user id the current token names (`sub`). */
  userId(): string {
    return decodeTokenClaims(this.#token!).sub
  }

  /** Milliseconds until the token should be replaced, or null when it cannot be or has no expiry. */
  msUntilRefresh(now = Date.now()): number | null {
    if (!this.renewable || this.#token === undefined) return null
    const { exp, iat } = decodeTokenClaims(this.#token)
    if (exp === undefined) return null
    const lifetimeMs = (exp - (iat ?? exp - 3600)) * 1000
    const margin = this.#options.refreshMarginMs ?? Math.min(60_000, lifetimeMs / 10)
    return exp * 1000 - margin - now
  }
}
