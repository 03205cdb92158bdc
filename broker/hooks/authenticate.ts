import type { AuthenticateError, Client } from 'aedes'
import { ChatError } from '../../shared/errors.ts'
import type { AccountService } from '../../shared/chat/account-service.ts'
import type { PresenceService } from '../../shared/chat/presence-service.ts'
import type { TokenService } from '../../shared/auth/tokens.ts'
import type { Logger } from '../../shared/logger.ts'
import type { Sessions } from '../sessions.ts'

// CONNACK return codes, MQTT 3.1.1 section 3.2.2.3.
const IDENTIFIER_REJECTED = 2
const SERVER_UNAVAILABLE = 3
const BAD_USERNAME_OR_PASSWORD = 4
const NOT_AUTHORIZED = 5

function refusal(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

/**
 * The broker-side client id: the client's own id inside its user's
 * namespace. Two users who pick the same id (say `phone`) get two sessions,
 * so nobody can take over, or drain the offline queue of, another user's
 * session by reusing its client id.
 */
export function scopedClientId(userId: string, clientId: string): string {
  return `${userId}:${clientId}`
}

/** Marks a client whose CONNECT had a zero-byte client id with CleanSession 0 (see {@link preConnectHook}). */
const EMPTY_PERSISTENT_ID = Symbol('mqchat.emptyPersistentId')
type Marked = Client & { [EMPTY_PERSISTENT_ID]?: true }

/**
 * Aedes's `preConnect`, the only hook that sees the CONNECT's own client id
 * (Aedes replaces an empty one with a random `aedes_<uuid>` before
 * `authenticate`). MQTT 3.1.1 section 3.1.3.1 [MQTT-3.1.3-8]: a zero-byte
 * client id with CleanSession 0 must get CONNACK 0x02 (identifier rejected)
 * and be closed; accepted, it would leave a persistent session under a
 * random id that nobody can resume. Aedes answers a `preConnect` refusal
 * with no CONNACK at all, so this only marks the client, and
 * {@link authenticateHook} refuses it with 0x02 (Aedes then closes it).
 */
export function preConnectHook(client: Client, packet: { clientId?: string; clean?: boolean }, done: (error: Error | null, success: boolean) => void): void {
  if (!packet.clientId && packet.clean === false) (client as Marked)[EMPTY_PERSISTENT_ID] = true
  done(null, true)
}

/**
 * CONNECT: the password carries the access token; the username may be empty,
 * the user's id or the user's name (any case), but must be present. A missing or invalid token
 * gets return code 4; a valid token of a deleted or disabled account gets 5 (the
 * account is read, or remembered as enabled for `ACCOUNT_CACHE_TTL_MS`);
 * a database that cannot answer gets 3; a zero-byte client id with CleanSession 0
 * gets 2 (see {@link preConnectHook}). Aedes runs this step after it has
 * read the client id and before anything uses it, so the id is scoped here.
 * An accepted connection counts for its user's presence until its socket
 * closes (not until Aedes' `clientDisconnect`: a takeover disconnects the old
 * client before registering the new one, and a client that closes before it
 * is registered never disconnects).
 */
export function authenticateHook(deps: { tokens: TokenService; accounts: AccountService; sessions: Sessions; presence: PresenceService; log: Logger }) {
  return function authenticate(client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>,
    done: (error: AuthenticateError | null, success: boolean | null) => void): void {
    if ((client as Marked)[EMPTY_PERSISTENT_ID]) {
      deps.log.info({ returnCode: IDENTIFIER_REJECTED, reason: 'empty client id with clean: false' }, 'mqtt connect refused')
      return done(refusal(IDENTIFIER_REJECTED, 'a zero-byte client id requires CleanSession 1 (MQTT-3.1.3-8)'), false)
    }
    if (!password || password.length === 0) return done(refusal(BAD_USERNAME_OR_PASSWORD, 'access token required as password'), false)
    // MQTT 3.1.1 section 3.1.2.9: a password flag without the username flag is a malformed CONNECT, which aedes does not check.
    if (username === undefined) return done(refusal(BAD_USERNAME_OR_PASSWORD, 'password without a username'), false)
    deps.tokens.verify(password.toString('utf8'))
      .then(async (claims) => {
        if (username && username !== claims.userId && username.toLowerCase() !== claims.username.toLowerCase()) {
          throw refusal(BAD_USERNAME_OR_PASSWORD, 'username does not match the token')
        }
        await deps.accounts.assertActive(claims.userId).catch((err: unknown) => {
          throw err instanceof ChatError ? refusal(NOT_AUTHORIZED, 'account disabled or deleted') : refusal(SERVER_UNAVAILABLE, 'account look-up failed')
        })
        ;(client as { id: string }).id = scopedClientId(claims.userId, client.id)
        deps.sessions.start(client, { userId: claims.userId, username: claims.username }, claims.expiresAt!)
        // `on`, not `once`: the release ignores later calls, and `once` costs each connection a wrapper.
        if (!client.closed && !client.conn.destroyed) client.conn.on('close', deps.presence.connected(claims.userId, client.id, client))
        deps.log.debug({ clientId: client.id, userId: claims.userId }, 'mqtt client authenticated')
        done(null, true)
      })
      .catch((err: unknown) => {
        const error = (err as AuthenticateError).returnCode ? (err as AuthenticateError) : refusal(BAD_USERNAME_OR_PASSWORD, 'invalid access token')
        const level = error.returnCode === SERVER_UNAVAILABLE ? 'warn' : 'info'
        deps.log[level]({ clientId: client.id, returnCode: error.returnCode, reason: error.message }, 'mqtt connect refused')
        done(error, false)
      })
  }
}
