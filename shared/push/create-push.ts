import type { Kysely } from 'kysely'
import type { Config } from '../config.ts'
import type { Database } from '../db/schema.ts'
import type { Logger } from '../logger.ts'
import type { MembershipCache } from '../chat/membership-cache.ts'
import type { MessageService } from '../chat/message-service.ts'
import { PushService } from './push-service.ts'
import { loadVapidKeys } from './vapid-keys.ts'

/**
 * Builds the push service from config and hooks it to the message path as
 * an after-commit observer. `isOnline` is the presence registry's answer
 * (cluster-wide when Redis is set).
 */
export async function createPush(db: Kysely<Database>, config: Config, log: Logger, deps: { members: MembershipCache; messages: MessageService; isOnline: (userId: string) => Promise<boolean> }): Promise<PushService> {
  const vapid = await loadVapidKeys(db, { publicKey: config.VAPID_PUBLIC_KEY, privateKey: config.VAPID_PRIVATE_KEY, subject: config.VAPID_SUBJECT })
  const push = new PushService({
    db, members: deps.members, isOnline: deps.isOnline, vapid, log,
    options: {
      preview: config.PUSH_PREVIEW, collapseMs: config.PUSH_COLLAPSE_MS, maxAttempts: config.PUSH_MAX_ATTEMPTS,
      retryBaseMs: config.PUSH_RETRY_BASE_MS, timeoutMs: config.PUSH_TIMEOUT_MS, pollMs: config.PUSH_POLL_MS,
      subscriptionsPerUser: config.PUSH_SUBSCRIPTIONS_PER_USER,
    },
  })
  deps.messages.onStored((message) => push.messageStored(message))
  return push
}
