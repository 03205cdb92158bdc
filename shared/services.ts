import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Redis } from 'ioredis'
import type { Config } from './config.ts'
import type { Database } from './db/schema.ts'
import type { ClusterNote } from './events.ts'
import type { Logger } from './logger.ts'
import type { Realtime } from './realtime.ts'
import { loadSigningKey, type SigningKey } from './auth/signing-key.ts'
import { TokenService } from './auth/tokens.ts'
import { AccountService } from './chat/account-service.ts'
import { AdminService } from './chat/admin-service.ts'
import { MembershipCache } from './chat/membership-cache.ts'
import { MembershipService } from './chat/membership-service.ts'
import { MessageService } from './chat/message-service.ts'
import { MessageWriter } from './chat/message-writer.ts'
import { MemoryPresenceRegistry, type PresenceRegistry } from './chat/presence-registry.ts'
import { PresenceService } from './chat/presence-service.ts'
import { RedisPresenceRegistry } from './chat/redis-presence-registry.ts'
import { ReadService } from './chat/read-service.ts'
import { RoomEventService } from './chat/room-event-service.ts'
import { RoomService } from './chat/room-service.ts'
import { SearchService } from './chat/search-service.ts'
import { TypingService } from './chat/typing-service.ts'
import { createAuthThrottle } from './limits/auth-throttle.ts'
import { createRateLimiter } from './limits/cluster-rate-limiter.ts'
import { RedisLink } from './limits/redis-link.ts'
import { createRequestLimit, type RequestLimit } from './limits/request-limit.ts'
import { createRoomChangeLimit } from './limits/room-change-limit.ts'
import { createPush } from './push/create-push.ts'
import type { PushService } from './push/push-service.ts'
import { AdminStore } from './stores/admin-store.ts'
import { MembershipStore } from './stores/membership-store.ts'
import { MessageStore } from './stores/message-store.ts'
import { PresenceStore } from './stores/presence-store.ts'
import { ReadStore } from './stores/read-store.ts'
import { RoomStore } from './stores/room-store.ts'
import { SearchStore } from './stores/search-store.ts'
import { UserStore } from './stores/user-store.ts'

/** The transport-free core that both adapters call. */
export interface Services {
  signingKey: SigningKey
  tokens: TokenService
  accounts: AccountService
  rooms: RoomService
  messages: MessageService
  reads: ReadService
  typing: TypingService
  search: SearchService
  roomEvents: RoomEventService
  presence: PresenceService
  membership: MembershipCache
  /** Renaming, members and roles, leaving and deleting group rooms. */
  membershipAdmin: MembershipService
  /** The service's admins: users, any room, system messages, stats (`/v1/admin/...`). */
  admin: AdminService
  writer: MessageWriter
  /** Web Push to members with no live connection; subscriptions and notification settings. */
  push: PushService
  /** Each user's REST requests (`HTTP_REQUESTS_PER_MINUTE`), counted by the HTTP adapter. */
  requests: RequestLimit
  /** Acts on a note from any node of the cluster (wired to the broker's cluster routing). */
  applyClusterNote(note: ClusterNote): void
}

/**
 * Builds the domain services on an open, migrated database. `realtime` is
 * how they reach connected clients and the other nodes (the broker adapter);
 * `redis`, when clustered, holds what every node must agree on (message, request and room-change rates, login and registration throttles).
 */
export async function createServices(db: Kysely<Database>, config: Config, log: Logger, realtime: Realtime, redis?: Redis): Promise<Services> {
  const signingKey = await loadSigningKey(db, config.JWT_PRIVATE_KEY)
  const tokens = new TokenService(signingKey, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, ttlSeconds: config.JWT_TTL_SECONDS })
  const users = new UserStore(db)
  const roomStore = new RoomStore(db)
  const messageStore = new MessageStore(db)
  const membership = new MembershipCache(roomStore, { maxRooms: config.MEMBERSHIP_CACHE_ROOMS, ttlMs: config.MEMBERSHIP_CACHE_TTL_MS })
  const writer = new MessageWriter(messageStore, { batchMax: config.WRITE_BATCH_MAX, queueMax: config.WRITE_QUEUE_MAX, concurrency: config.WRITE_CONCURRENCY }, log)
  const { presence, registry: presenceRegistry } = await createPresence(db, config, log, realtime, redis)
  const messageRate = { perMinute: config.MESSAGE_RATE_PER_MINUTE, burst: config.MESSAGE_RATE_BURST }
  const limits = redis && new RedisLink(redis) // one for every limiter of this node
  const rate = createRateLimiter(messageRate, limits)
  const resendChecks = createRateLimiter(messageRate, limits)
  const messages = new MessageService({ members: membership, writer, store: messageStore, rooms: roomStore, realtime, rate, resendChecks, maxBodyBytes: config.MESSAGE_MAX_BYTES, pageMax: config.HISTORY_PAGE_MAX })
  const push = await createPush(db, config, log, { members: membership, messages, isOnline: (userId) => presenceRegistry.isOnline(userId) })
  const reads = new ReadService({ store: new ReadStore(db), members: membership, realtime })
  const typing = new TypingService({ members: membership, realtime, throttleMs: config.TYPING_THROTTLE_MS })
  const authThrottle = createAuthThrottle({
    usernameFailures: { perMinute: config.LOGIN_FAILURES_PER_USERNAME_PER_MINUTE, burst: config.LOGIN_FAILURES_PER_USERNAME_BURST },
    addressFailures: { perMinute: config.LOGIN_FAILURES_PER_IP_PER_MINUTE, burst: config.LOGIN_FAILURES_PER_IP_BURST },
    addressRegistrations: { perMinute: config.REGISTRATIONS_PER_IP_PER_MINUTE, burst: config.REGISTRATIONS_PER_IP_BURST },
  }, limits)
  const accounts = new AccountService(users, tokens, config.PASSWORD_SCRYPT_COST, { ttlMs: config.ACCOUNT_CACHE_TTL_MS, maxUsers: config.ACCOUNT_CACHE_USERS }, authThrottle)
  const roomChanges = createRoomChangeLimit({ perMinute: config.ROOM_CHANGES_PER_MINUTE, burst: config.ROOM_CHANGES_BURST }, limits)
  const membershipAdmin = new MembershipService({ store: new MembershipStore(db), rooms: roomStore, cache: membership, realtime, maxMembers: config.ROOM_MAX_MEMBERS, changes: roomChanges })
  return {
    signingKey,
    tokens,
    membership,
    writer,
    push,
    requests: createRequestLimit({ perMinute: config.HTTP_REQUESTS_PER_MINUTE, burst: config.HTTP_REQUESTS_BURST }, limits),
    messages,
    reads,
    typing,
    roomEvents: new RoomEventService({ reads, typing, messages }),
    presence,
    accounts,
    rooms: new RoomService({ rooms: roomStore, users, members: membership, maxMembers: config.ROOM_MAX_MEMBERS, realtime, changes: roomChanges }),
    search: new SearchService({ store: new SearchStore(db), members: membership, pageMax: config.HISTORY_PAGE_MAX }),
    membershipAdmin,
    admin: new AdminService({ store: new AdminStore(db), messages, membership: membershipAdmin, presence, accounts, realtime }),
    applyClusterNote(note) {
      if (note.kind === 'membership') membership.apply(note)
      else if (note.kind === 'evict_connections') presence.evictLocal(note.connectionIds)
      else if (note.kind === 'user_disabled') {
        accounts.forget(note.userId)
        presence.setDisabled(note.userId, note.disabled)
      }
    },
  }
}

/** Presence and per-user connection counting, in Redis for a cluster, in memory for one node; the registry also tells push who is online. */
async function createPresence(db: Kysely<Database>, config: Config, log: Logger, realtime: Realtime, redis?: Redis): Promise<{ presence: PresenceService; registry: PresenceRegistry }> {
  let registry: PresenceRegistry = new MemoryPresenceRegistry()
  if (redis) {
    const shared = new RedisPresenceRegistry(redis, { prefix: config.REDIS_KEY_PREFIX, nodeId: randomUUID(), nodeTtlMs: config.PRESENCE_NODE_TTL_MS })
    await shared.ready()
    registry = shared
  }
  const presence = new PresenceService({
    store: new PresenceStore(db), registry, realtime, log,
    options: { maxConnectionsPerUser: config.CONNECTIONS_PER_USER, sweepIntervalMs: Math.ceil(config.PRESENCE_NODE_TTL_MS / 2) },
  })
  return { presence, registry }
}
