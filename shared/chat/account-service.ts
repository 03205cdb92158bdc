import { ChatError } from '../errors.ts'
import { newId } from '../ids.ts'
import { decoyHash, hashPassword, verifyPassword } from '../auth/passwords.ts'
import type { TokenService } from '../auth/tokens.ts'
import type { AuthThrottle } from '../limits/auth-throttle.ts'
import { toPublicUser, type PublicUser, type UserStore } from '../stores/user-store.ts'

/** What a successful login returns. */
export interface LoginResult {
  accessToken: string
  tokenType: 'Bearer'
  expiresIn: number
  user: PublicUser
}

/** How long, and for how many accounts, a node trusts that an account it read is enabled. */
export interface ActiveCacheLimits {
  ttlMs: number
  maxUsers: number
}

/** Registration, login and user look-up. Input is already shape-checked by the adapter. */
export class AccountService {
  readonly #users: UserStore
  readonly #tokens: TokenService
  readonly #scryptCost: number
  readonly #activeCache: ActiveCacheLimits
  /** Accounts lately read as enabled, and until when that is trusted. */
  readonly #activeUntil = new Map<string, number>()
  /** How many times an account was forgotten: a read that overlapped one may predate the change, and is not remembered. */
  #forgotten = 0
  #decoy: Promise<string> | undefined
  readonly #throttle: AuthThrottle | undefined

  constructor(users: UserStore, tokens: TokenService, scryptCost: number, activeCache: ActiveCacheLimits = { ttlMs: 0, maxUsers: 0 }, throttle?: AuthThrottle) {
    this.#users = users
    this.#tokens = tokens
    this.#scryptCost = scryptCost
    this.#activeCache = activeCache
    this.#throttle = throttle
  }

  /**
   * Creates an account; `username_taken` if the name is in use (any case),
   * `rate_limited` when `client.address` has registered too often lately.
   */
  async register(input: { username: string; password: string; displayName?: string | undefined }, client: { address?: string | undefined } = {}): Promise<PublicUser> {
    return this.#throttle ? this.#throttle.register(client.address, () => this.#register(input)) : this.#register(input)
  }

  async #register(input: { username: string; password: string; displayName?: string | undefined }): Promise<PublicUser> {
    const user = { id: newId(), username: input.username, displayName: input.displayName ?? input.username }
    const passwordHash = await hashPassword(input.password, this.#scryptCost)
    if (!(await this.#users.insert({ ...user, passwordHash }))) throw new ChatError('username_taken')
    return user
  }

  /**
   * Checks the password and issues an access token; `invalid_credentials`
   * otherwise, or `rate_limited` (without checking) after too many failures
   * for the username or from `client.address` lately.
   */
  async login(input: { username: string; password: string }, client: { address?: string | undefined } = {}): Promise<LoginResult> {
    return this.#throttle ? this.#throttle.login(input.username, client.address, () => this.#login(input)) : this.#login(input)
  }

  async #login(input: { username: string; password: string }): Promise<LoginResult> {
    const row = await this.#users.findByUsername(input.username)
    this.#decoy ??= decoyHash(this.#scryptCost)
    const matches = await verifyPassword(input.password, row?.password_hash ?? (await this.#decoy))
    if (!row || !matches || row.disabled) throw new ChatError('invalid_credentials')
    const { token, expiresIn } = await this.#tokens.issue({ userId: row.id, username: row.username })
    return { accessToken: token, tokenType: 'Bearer', expiresIn, user: toPublicUser(row) }
  }

  /** The enabled user with this id; `unauthenticated` when there is none (deleted or disabled). */
  async activeUser(userId: string): Promise<PublicUser> {
    const row = await this.#users.findById(userId)
    if (!row || row.disabled) throw new ChatError('unauthenticated', 'The account no longer exists or is disabled.')
    return toPublicUser(row)
  }

  /**
   * Resolves if `userId` is an enabled account; `unauthenticated` otherwise.
   * Every CONNECT and REST request asks, so an answer is remembered for
   * `ttlMs`: reading the account each time cost a query per request and
   * about half of this node's connect rate. An admin's disable reaches
   * every node as a cluster note, which calls {@link forget}; the broker
   * also closes connections of a user disabled moments earlier
   * (`PresenceService.setDisabled`).
   */
  async assertActive(userId: string): Promise<void> {
    const until = this.#activeUntil.get(userId)
    if (until !== undefined && until > Date.now()) return
    const forgottenBefore = this.#forgotten
    await this.activeUser(userId)
    if (this.#activeCache.ttlMs === 0 || this.#forgotten !== forgottenBefore) return
    if (this.#activeUntil.size >= this.#activeCache.maxUsers) this.#activeUntil.clear()
    this.#activeUntil.set(userId, Date.now() + this.#activeCache.ttlMs)
  }

  /** Stops trusting what was read of `userId`'s account (it was disabled or enabled). */
  forget(userId: string): void {
    this.#forgotten++
    this.#activeUntil.delete(userId)
  }

  /** Users matching `query` in username or display name. */
  search(query: string, limit: number): Promise<PublicUser[]> {
    return this.#users.search(query, limit)
  }
}
