import type { Kysely } from 'kysely'
import type { Config } from './config.ts'
import type { Database } from './db/schema.ts'
import type { Logger } from './logger.ts'
import { loadSigningKey, type SigningKey } from './auth/signing-key.ts'
import { TokenService } from './auth/tokens.ts'
import { AccountService } from './chat/account-service.ts'
import { MembershipCache } from './chat/membership-cache.ts'
import { MessageService, type MessageFanout } from './chat/message-service.ts'
import { MessageWriter } from './chat/message-writer.ts'
import { RoomService } from './chat/room-service.ts'
import { MessageStore } from './stores/message-store.ts'
import { RoomStore } from './stores/room-store.ts'
import { UserStore } from './stores/user-store.ts'

/** The transport-free core that both adapters call. */
export interface Services {
  signingKey: SigningKey
  tokens: TokenService
  accounts: AccountService
  rooms: RoomService
  messages: MessageService
  membership: MembershipCache
  writer: MessageWriter
}

/** Builds the domain services on an open, migrated database. */
export async function createServices(db: Kysely<Database>, config: Config, log: Logger, fanout: MessageFanout): Promise<Services> {
  const signingKey = await loadSigningKey(db, config.JWT_PRIVATE_KEY)
  const tokens = new TokenService(signingKey, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, ttlSeconds: config.JWT_TTL_SECONDS })
  const users = new UserStore(db)
  const roomStore = new RoomStore(db)
  const messageStore = new MessageStore(db)
  const membership = new MembershipCache(roomStore, { maxRooms: config.MEMBERSHIP_CACHE_ROOMS, ttlMs: config.MEMBERSHIP_CACHE_TTL_MS })
  const writer = new MessageWriter(messageStore, { batchMax: config.WRITE_BATCH_MAX, queueMax: config.WRITE_QUEUE_MAX }, log)
  return {
    signingKey,
    tokens,
    membership,
    writer,
    accounts: new AccountService(users, tokens, config.PASSWORD_SCRYPT_COST),
    rooms: new RoomService(roomStore, users, membership, config.ROOM_MAX_MEMBERS),
    messages: new MessageService({ members: membership, writer, store: messageStore, fanout, maxBodyBytes: config.MESSAGE_MAX_BYTES, pageMax: config.HISTORY_PAGE_MAX }),
  }
}
