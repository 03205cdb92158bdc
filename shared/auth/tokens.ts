import { SignJWT, jwtVerify } from 'jose'
import { ChatError } from '../errors.ts'
import { TOKEN_ALGORITHM, type SigningKey } from './signing-key.ts'

/** How far ahead of this node's clock a token's `iat` may be: the clock skew allowed between the nodes of a cluster. */
const ISSUED_AT_SKEW_SECONDS = 60

/** What a verified access token says about its bearer. */
export interface TokenClaims {
  userId: string
  username: string
  /** When the token stops being valid, in ms since the epoch (set by {@link TokenService.verify}). */
  expiresAt?: number
}

/** Issue and verification settings, from config. */
export interface TokenSettings {
  issuer: string
  audience: string
  ttlSeconds: number
}

/** Tokens whose verification is remembered: about 10,000 devices' worth, a few MB. */
const VERIFIED_CACHE_MAX = 10_000

/**
 * Issues and verifies ES256 access tokens; verification pins the algorithm,
 * `iss` and `aud`. A token that verified is remembered (by its exact text)
 * until it expires, so a reconnect storm or a busy REST client costs one
 * signature check per token rather than one per request (about 1 ms of CPU
 * each, the largest part of a CONNECT). Only tokens that verified are kept,
 * so random strings cannot fill the cache; whether the account is still
 * enabled is checked on every use, by the callers, not here.
 */
export class TokenService {
  readonly #key: SigningKey
  readonly #settings: TokenSettings
  readonly #verified = new Map<string, Required<TokenClaims>>()

  constructor(key: SigningKey, settings: TokenSettings) {
    this.#key = key
    this.#settings = settings
  }

  /** A signed access token for the user, and its lifetime in seconds. */
  async issue(claims: TokenClaims): Promise<{ token: string; expiresIn: number }> {
    const { issuer, audience, ttlSeconds } = this.#settings
    const token = await new SignJWT({ username: claims.username })
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: this.#key.kid, typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(this.#key.privateKey)
    return { token, expiresIn: ttlSeconds }
  }

  /**
   * The claims of a valid token; throws `unauthenticated` for any other string.
   * Besides signature, algorithm, `iss`, `aud`, `exp` and `nbf`, the header
   * must name this key (`kid`), so a token of a retired or foreign key id is
   * refused even when its signature happens to verify, and `iat` may not lie
   * in the future (jose only checks it when a maximum age is set).
   */
  async verify(token: string): Promise<TokenClaims> {
    const known = this.#verified.get(token)
    if (known) {
      if (known.expiresAt > Date.now()) return { ...known }
      this.#verified.delete(token)
      throw new ChatError('unauthenticated', 'The access token is invalid or expired.')
    }
    const claims = await this.#verifySignature(token)
    if (this.#verified.size >= VERIFIED_CACHE_MAX) this.#verified.delete(this.#verified.keys().next().value!)
    this.#verified.set(token, claims)
    return { ...claims }
  }

  async #verifySignature(token: string): Promise<Required<TokenClaims>> {
    try {
      const { payload, protectedHeader } = await jwtVerify(token, this.#key.publicKey, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: this.#settings.issuer,
        audience: this.#settings.audience,
        requiredClaims: ['sub', 'exp', 'iat'],
      })
      if (protectedHeader.kid !== this.#key.kid) throw new Error('unknown key id')
      if (payload.iat! > Date.now() / 1000 + ISSUED_AT_SKEW_SECONDS) throw new Error('issued in the future')
      if (typeof payload.sub !== 'string' || typeof payload['username'] !== 'string') throw new Error('claims missing')
      return { userId: payload.sub, username: payload['username'], expiresAt: payload.exp! * 1000 }
    } catch {
      throw new ChatError('unauthenticated', 'The access token is invalid or expired.')
    }
  }
}
