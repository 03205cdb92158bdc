import { z } from 'zod'

const port = z.coerce.number().int().min(0).max(65535)
const positiveInt = z.coerce.number().int().positive()
const optionalText = z.string().min(1).optional()

/**
 * Every environment variable mqchat reads, with its parser, default and the
 * sentence the README's configuration table shows for it.
 */
export const CONFIG_SPEC = {
  HOST: { schema: z.string().min(1).default('0.0.0.0'), doc: 'Address every listener binds to.' },
  MQTT_PORT: { schema: port.default(1883), doc: 'MQTT over TCP port; 0 picks a free port (the log names it).' },
  WS_PORT: { schema: port.default(8080), doc: 'MQTT over WebSocket port; 0 picks a free port.' },
  MQTT_MAX_PACKET_BYTES: { schema: positiveInt.min(1024).default(65536), doc: 'Largest MQTT packet a client may send (TCP and WebSocket); a client announcing a larger one is disconnected before it is read.' },
  MQTTS_PORT: { schema: port.default(8883), doc: 'MQTT over TLS port, served when `TLS_CERT_FILE` and `TLS_KEY_FILE` are set; 0 picks a free port.' },
  WSS_PORT: { schema: port.default(8884), doc: 'MQTT over secure WebSocket port, served when `TLS_CERT_FILE` and `TLS_KEY_FILE` are set; 0 picks a free port.' },
  TLS_CERT_FILE: { schema: optionalText, doc: 'PEM certificate (chain) for the TLS listeners. Set together with `TLS_KEY_FILE`; unset: no TLS listeners.' },
  TLS_KEY_FILE: { schema: optionalText, doc: 'PEM private key for the TLS listeners.' },
  CONNECTIONS_PER_IP_PER_SECOND: { schema: positiveInt.default(20), doc: 'New MQTT connections a second one IP address may open on a node (a burst of as many); beyond it the socket is closed before it is read.' },
  CONNECTIONS_PER_USER: { schema: positiveInt.default(3), doc: 'Live MQTT connections one user may hold (across the cluster); a further connection is accepted and the user\'s oldest is closed (a reconnect with the client id of an open connection replaces that one instead).' },
  PRESENCE_NODE_TTL_MS: { schema: positiveInt.min(300).default(10000), doc: 'With `REDIS_URL`: a node that stops refreshing its presence key for this long counts as dead; its users\' connections stop counting and those left with none are announced offline.' },
  MQTT_CONNECT_TIMEOUT_MS: { schema: positiveInt.default(10000), doc: 'Time a client has to complete CONNECT, and before that its TLS handshake or WebSocket upgrade (each); then it is closed.' },
  MQTT_TCP_KEEPALIVE_MS: { schema: positiveInt.min(1000).max(7_200_000).default(60000), doc: 'Silence on an MQTT connection (TCP, TLS or WebSocket) after which TCP keepalive probes its peer, once a second, ten times; a peer that vanished without closing (a phone that lost its network, a client whose MQTT keepalive is 0) is then disconnected and goes offline, about this + 10 s after it fell silent.' },
  MQTT_DRAIN_TIMEOUT_MS: { schema: positiveInt.default(30000), doc: 'A client that stops reading is disconnected once its socket buffer has not drained for this long, so it cannot stall delivery to others or hold memory.' },
  MQTT_MAX_SUBSCRIPTIONS: { schema: positiveInt.default(500), doc: 'Subscriptions one MQTT connection may hold; beyond it SUBSCRIBE is refused (0x80) and reported.' },
  MQTT_OFFLINE_QUEUE_MAX: { schema: positiveInt.default(1000), doc: 'Messages one persistent (`clean: false`) session may have queued while it is not connected (its user online elsewhere or not); newer ones are left to catch-up (`POST /v1/sync`).' },
  WS_PATH: { schema: z.string().startsWith('/').default('/mqtt'), doc: 'HTTP path of the MQTT WebSocket endpoint.' },
  HTTP_PORT: { schema: port.default(3000), doc: 'REST API port; 0 picks a free port.' },
  METRICS_PORT: { schema: port.optional(), doc: 'Port of a listener of its own serving only `GET /metrics` (Prometheus text) on `METRICS_HOST`; 0 picks a free port. Unset: no such listener (see `METRICS_TOKEN`).' },
  METRICS_HOST: { schema: z.string().min(1).default('127.0.0.1'), doc: 'Address the `METRICS_PORT` listener binds to; the default keeps it off the network.' },
  METRICS_TOKEN: { schema: z.string().min(16).optional(), doc: 'Set: `GET /metrics` requires `Authorization: Bearer <METRICS_TOKEN>`, and is served on `HTTP_PORT` too when `METRICS_PORT` is unset. Neither set: no metrics are served.' },
  READYZ_TIMEOUT_MS: { schema: positiveInt.default(2000), doc: 'Longest `GET /readyz` waits for each of Postgres and Redis before it reports that one unreachable.' },
  SHUTDOWN_TIMEOUT_MS: { schema: positiveInt.default(20000), doc: 'On SIGTERM/SIGINT the node drains (stops accepting, finishes the writes in flight, closes clients); past this it exits with code 1 anyway.' },
  DATABASE_URL: { schema: z.url({ protocol: /^postgres(ql)?$/ }).optional(), doc: 'Postgres connection URL. Unset: embedded Postgres (PGlite) in DATA_DIR.' },
  DATABASE_SCHEMA: { schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).optional(), doc: 'Postgres schema to use (created if missing); unset uses the server default.' },
  DATABASE_POOL_MAX: { schema: positiveInt.default(10), doc: 'Maximum Postgres connections per node.' },
  DATABASE_POOL_MIN: { schema: z.coerce.number().int().min(0).default(3), doc: 'Postgres connections each node opens at start and keeps open however long they stay idle (at most `DATABASE_POOL_MAX`): a new connection costs the message or request that waits for it tens of milliseconds (docs/PERFORMANCE.md).' },
  DATABASE_IDLE_TIMEOUT_MS: { schema: positiveInt.default(10000), doc: 'A Postgres connection above `DATABASE_POOL_MIN` that stays idle this long is closed.' },
  DATABASE_TIMEOUT_MS: { schema: positiveInt.default(10000), doc: 'Longest wait for a Postgres connection and longest statement; past it the request fails (a publish gets no PUBACK) instead of hanging.' },
  DATA_DIR: { schema: z.string().min(1).default('./data'), doc: 'Directory for the embedded database. `memory://` keeps it in memory only.' },
  REDIS_URL: { schema: z.url({ protocol: /^rediss?$/ }).optional(), doc: 'Redis URL. Set: nodes share message routing and MQTT sessions through it. Unset: in-memory broker state (one node).' },
  REDIS_KEY_PREFIX: { schema: z.string().min(1).max(64).default('mqchat:'), doc: 'Prefix of every Redis key. It separates keys only: publishes travel over Redis pub/sub, which no prefix or database number separates, so one Redis server carries one cluster.' },
  LOG_LEVEL: { schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), doc: 'pino log level.' },
  JWT_PRIVATE_KEY: { schema: optionalText, doc: 'ES256 private key (PKCS#8 PEM) that signs access tokens. Unset: one is generated once and kept in the database.' },
  JWT_ISSUER: { schema: z.string().min(1).default('mqchat'), doc: 'The `iss` claim issued and required.' },
  JWT_AUDIENCE: { schema: z.string().min(1).default('mqchat'), doc: 'The `aud` claim issued and required.' },
  JWT_TTL_SECONDS: { schema: positiveInt.max(2_000_000).default(3600), doc: 'Lifetime of an access token.' },
  PASSWORD_SCRYPT_COST: { schema: z.coerce.number().int().min(1024).refine((n) => (n & (n - 1)) === 0, 'must be a power of two').default(32768), doc: 'scrypt N (memory-hard cost, power of two) for new password hashes.' },
  MESSAGE_MAX_BYTES: { schema: positiveInt.default(4096), doc: 'Largest message body, in UTF-8 bytes.' },
  ROOM_MAX_MEMBERS: { schema: positiveInt.default(1000), doc: 'Most members a group room may have.' },
  HTTP_BODY_MAX_BYTES: { schema: positiveInt.default(65536), doc: 'Largest JSON request body the REST API reads.' },
  HISTORY_PAGE_MAX: { schema: positiveInt.default(100), doc: 'Largest page a list request (history, user search, message search, the admin user list) may ask for.' },
  WRITE_BATCH_MAX: { schema: positiveInt.max(5000).default(256), doc: 'Most messages committed in one group-commit INSERT.' },
  WRITE_QUEUE_MAX: { schema: positiveInt.default(10000), doc: 'Most messages waiting for a commit; beyond it sends are refused with `server_busy`.' },
  WRITE_CONCURRENCY: { schema: positiveInt.max(16).default(2), doc: 'Most group-commit batches in flight at once, each on its own connection (must stay below `DATABASE_POOL_MAX`); a batch starts while another commits only when at least 32 messages (or `WRITE_BATCH_MAX`, if smaller) can go in it, or once the commit in progress has taken 20 ms.' },
  MEMBERSHIP_CACHE_ROOMS: { schema: positiveInt.default(10000), doc: 'Rooms whose member lists each node keeps in memory.' },
  MEMBERSHIP_CACHE_TTL_MS: { schema: positiveInt.default(30000), doc: 'How long a cached member list is trusted before it is read again (changes made through mqchat reach every node at once; this bounds only changes made behind its back).' },
  ACCOUNT_CACHE_TTL_MS: { schema: positiveInt.default(5000), doc: 'How long a node trusts that an account it has read is enabled, for CONNECT and REST requests (an admin\'s disable reaches every node at once; this bounds only changes made behind mqchat\'s back).' },
  ACCOUNT_CACHE_USERS: { schema: positiveInt.default(100000), doc: 'Accounts each node remembers as enabled (see `ACCOUNT_CACHE_TTL_MS`).' },
  MESSAGE_RATE_PER_MINUTE: { schema: positiveInt.default(60), doc: 'Messages a user may send per minute, over all their devices (and, with `REDIS_URL`, all nodes); beyond it sends are refused with `rate_limited`.' },
  MESSAGE_RATE_BURST: { schema: positiveInt.default(20), doc: 'Messages a user may send at once before `MESSAGE_RATE_PER_MINUTE` applies (the token bucket\'s size).' },
  LOGIN_FAILURES_PER_USERNAME_PER_MINUTE: { schema: positiveInt.default(2), doc: 'Failed logins one username (any case, existing or not) may have per minute, from any address (and, with `REDIS_URL`, on all nodes; without it, per node); beyond it `POST /v1/auth/login` is refused with `rate_limited` and `Retry-After` before the password is checked. Successful logins do not count; once failures stop, the username can log in again within 60 / this many seconds.' },
  LOGIN_FAILURES_PER_USERNAME_BURST: { schema: positiveInt.default(10), doc: 'Failed logins one username may have at once before `LOGIN_FAILURES_PER_USERNAME_PER_MINUTE` applies (the token bucket\'s size).' },
  LOGIN_FAILURES_PER_IP_PER_MINUTE: { schema: positiveInt.default(10), doc: 'Failed logins one client address (an IPv6 address by its /64) may have per minute, whatever the username; beyond it logins from it are refused with `rate_limited`. The address is the socket\'s peer: behind a proxy every client counts as the proxy (`X-Forwarded-For` is not read).' },
  LOGIN_FAILURES_PER_IP_BURST: { schema: positiveInt.default(30), doc: 'Failed logins one client address may have at once before `LOGIN_FAILURES_PER_IP_PER_MINUTE` applies.' },
  REGISTRATIONS_PER_IP_PER_MINUTE: { schema: positiveInt.default(2), doc: 'Registrations one client address may make per minute (each one that passes validation counts, taken username or not: each hashes a password); beyond it `POST /v1/auth/register` is refused with `rate_limited`.' },
  REGISTRATIONS_PER_IP_BURST: { schema: positiveInt.default(20), doc: 'Registrations one client address may make at once before `REGISTRATIONS_PER_IP_PER_MINUTE` applies.' },
  ROOM_CHANGES_PER_MINUTE: { schema: positiveInt.default(30), doc: 'Room changes a user may make per minute (creating a group or a direct room, renaming, adding or removing members, changing roles; over all their devices and, with `REDIS_URL`, all nodes); beyond it the request is refused with `rate_limited` and `Retry-After`. Leaving and deleting are not counted, nor is a request refused for another reason or one that changes nothing.' },
  ROOM_CHANGES_BURST: { schema: positiveInt.default(20), doc: 'Room changes a user may make at once before `ROOM_CHANGES_PER_MINUTE` applies (the token bucket\'s size).' },
  HTTP_REQUESTS_PER_MINUTE: { schema: positiveInt.default(600), doc: 'REST requests a user may make per minute with their token (over all their devices and, with `REDIS_URL`, all nodes); beyond it every route that needs a token answers `429 rate_limited` with `Retry-After`. Requests without a token (login, registration, health probes, the API description, the chat page) are not counted.' },
  HTTP_REQUESTS_BURST: { schema: positiveInt.default(300), doc: 'REST requests a user may make at once before `HTTP_REQUESTS_PER_MINUTE` applies (the token bucket\'s size).' },
  TYPING_THROTTLE_MS: { schema: positiveInt.default(2000), doc: 'A user\'s typing signals in one room are passed on at most once per this interval; the rest are dropped.' },
  SYNC_ROOM_MAX: { schema: positiveInt.default(100), doc: 'Most messages per room one `POST /v1/sync` returns (the rest are flagged `hasMore`).' },
  VAPID_PUBLIC_KEY: { schema: optionalText, doc: 'VAPID public key (base64url, as `web-push generate-vapid-keys` prints it) that identifies this server to push services. Set together with `VAPID_PRIVATE_KEY`; unset: a pair is generated once and kept in the database.' },
  VAPID_PRIVATE_KEY: { schema: optionalText, doc: 'VAPID private key (base64url) matching `VAPID_PUBLIC_KEY`.' },
  VAPID_SUBJECT: { schema: z.string().regex(/^(mailto:|https:\/\/)/, 'must be a mailto: or https: URL').default('mailto:push@mqchat.invalid'), doc: 'Contact URL (`mailto:` or `https:`) sent to push services with every push; set it to a real address in production.' },
  PUSH_PREVIEW: { schema: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'), doc: 'Whether a push notification carries the start of the latest message (`false`: only room, sender and count).' },
  PUSH_COLLAPSE_MS: { schema: positiveInt.default(30000), doc: 'A member gets at most one push per room per this interval; messages that arrive meanwhile are announced together, with their count, when it ends.' },
  PUSH_MAX_ATTEMPTS: { schema: positiveInt.max(50).default(10), doc: 'Tries of one push delivery before it is kept as failed (in `push_jobs`, for inspection).' },
  PUSH_RETRY_BASE_MS: { schema: positiveInt.default(5000), doc: 'Wait before the first retry of a failed push delivery; each further retry waits twice as long (at most an hour).' },
  PUSH_TIMEOUT_MS: { schema: positiveInt.default(10000), doc: 'A push service that stays silent this long is given up on for this try (it is retried).' },
  PUSH_POLL_MS: { schema: positiveInt.default(1000), doc: 'How often each node looks for push work that another node queued or that came due.' },
  PUSH_SUBSCRIPTIONS_PER_USER: { schema: positiveInt.max(1000).default(10), doc: 'Push subscriptions (devices) one user may hold; registering a further endpoint is refused with `too_many_push_subscriptions` until one is removed (re-registering an endpoint the user has is an update and always allowed). A user holding more (stored before the cap was lowered) is pushed to on the newest this many only.' },
} as const

type Spec = typeof CONFIG_SPEC
/** The validated configuration, one field per {@link CONFIG_SPEC} entry. */
export type Config = { [K in keyof Spec]: z.output<Spec[K]['schema']> }

/** Variables whose values may hold credentials: a config error names them but never prints the value. */
const SECRET_VARIABLES = new Set(['DATABASE_URL', 'REDIS_URL', 'JWT_PRIVATE_KEY', 'METRICS_TOKEN', 'VAPID_PRIVATE_KEY'])

/** Thrown by {@link loadConfig}; its message names every bad variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/**
 * Reads and validates the configuration once, at start. Empty strings count
 * as unset. Throws {@link ConfigError} naming each bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = []
  const config: Record<string, unknown> = {}
  for (const [name, { schema }] of Object.entries(CONFIG_SPEC)) {
    const raw = env[name] === '' ? undefined : env[name]
    const parsed = (schema as z.ZodType).safeParse(raw)
    if (parsed.success) config[name] = parsed.data
    else problems.push(`${name}=${SECRET_VARIABLES.has(name) ? '(value hidden)' : JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`)
  }
  if ((config['TLS_CERT_FILE'] === undefined) !== (config['TLS_KEY_FILE'] === undefined)) {
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE: set both, or neither')
  }
  if ((config['VAPID_PUBLIC_KEY'] === undefined) !== (config['VAPID_PRIVATE_KEY'] === undefined)) {
    problems.push('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY: set both, or neither')
  }
  if (Number(config['WRITE_CONCURRENCY']) >= Number(config['DATABASE_POOL_MAX'])) {
    problems.push('WRITE_CONCURRENCY must be below DATABASE_POOL_MAX: reads need a connection while batches commit')
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`)
  return config as Config
}
