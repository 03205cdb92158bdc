import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { ChatError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import type { MessageEnvelope } from '../protocol.ts'
import type { MembershipCache } from '../chat/membership-cache.ts'
import { PendingStore } from './push-pending.ts'
import { PushQueue } from './push-queue.ts'
import { webPushSender, type PushSender } from './push-sender.ts'
import { PushStore, type SubscriptionInput, type SubscriptionView } from './push-store.ts'
import { PushWorker, type PushObserver, type PushStats } from './push-worker.ts'
import { StoredMessages } from './stored-messages.ts'
import type { VapidKeys } from './vapid-keys.ts'

/** Push settings, from config. */
export interface PushOptions {
  preview: boolean
  collapseMs: number
  maxAttempts: number
  retryBaseMs: number
  timeoutMs: number
  pollMs: number
  /** Most subscriptions one user may hold (`PUSH_SUBSCRIPTIONS_PER_USER`). */
  subscriptionsPerUser: number
}

/**
 * Web Push for members with no live connection. {@link messageStored} is
 * the after-commit observer of the message path and hands the message to
 * {@link StoredMessages}, which records who should hear of it; the
 * {@link PushWorker} sends. The rest serves the REST routes: devices'
 * subscriptions, room mutes and do-not-disturb.
 */
export class PushService {
  readonly vapidPublicKey: string
  readonly #store: PushStore
  readonly #worker: PushWorker
  readonly #stored: StoredMessages
  readonly #members: MembershipCache
  readonly #subscriptionsPerUser: number
  #closed = false

  constructor(deps: { db: Kysely<Database>; members: MembershipCache; isOnline: (userId: string) => Promise<boolean>; vapid: VapidKeys; log: Logger; options: PushOptions; send?: PushSender }) {
    const { db, options } = deps
    this.vapidPublicKey = deps.vapid.publicKey
    this.#store = new PushStore(db)
    this.#members = deps.members
    this.#subscriptionsPerUser = options.subscriptionsPerUser
    const pending = new PendingStore(db, options.collapseMs, options.subscriptionsPerUser)
    const queue = new PushQueue(db, { maxAttempts: options.maxAttempts, baseDelayMs: options.retryBaseMs, maxDelayMs: 60 * 60 * 1000 })
    this.#worker = new PushWorker(
      { pending, queue, store: this.#store, send: deps.send ?? webPushSender(deps.vapid, options.timeoutMs), isOnline: deps.isOnline, log: deps.log },
      { pollMs: options.pollMs, concurrency: 16, leaseMs: options.timeoutMs * 3 + 5000, preview: options.preview },
    )
    this.#stored = new StoredMessages({ members: deps.members, store: this.#store, pending, isOnline: deps.isOnline, onDue: (at) => this.#worker.wake(at), log: deps.log })
  }

  /** Told of every try's outcome, for metrics (e.g. `services.push.observer = metrics.push`). */
  set observer(observer: PushObserver | undefined) {
    this.#worker.observer = observer
  }

  /** Deliveries sent, failed for good, retried, and subscriptions removed, since start. */
  get stats(): PushStats {
    return this.#worker.stats
  }

  /** After-commit observer: a new (not resent) message was stored. Returns at once. */
  messageStored(message: MessageEnvelope): void {
    if (!this.#closed) this.#stored.add(message)
  }

  /**
   * Stores a device's subscription for `userId` (see {@link PushStore.subscribe});
   * `too_many_push_subscriptions` for a new endpoint once they hold
   * `subscriptionsPerUser` (each message fans out to every device).
   */
  async subscribe(userId: string, input: SubscriptionInput): Promise<SubscriptionView> {
    const limit = this.#subscriptionsPerUser
    const stored = await this.#store.subscribe(userId, input, limit)
    if (!stored) throw new ChatError('too_many_push_subscriptions', `You have ${limit} push subscriptions, as many as you may; remove one first.`, { limit })
    return stored
  }

  /** Removes `userId`'s subscription at `endpoint`; false when there was none. */
  unsubscribe(userId: string, endpoint: string): Promise<boolean> {
    return this.#store.unsubscribe(userId, endpoint)
  }

  /** `userId`'s subscribed devices. */
  subscriptions(userId: string): Promise<SubscriptionView[]> {
    return this.#store.list(userId)
  }

  /** Whether `userId` muted `roomId`; `room_not_found` unless they are a member. */
  async roomSettings(userId: string, roomId: string): Promise<{ roomId: string; muted: boolean }> {
    await this.#requireMember(userId, roomId)
    return { roomId, muted: await this.#store.isRoomMuted(userId, roomId) }
  }

  /** Mutes or unmutes a room for a member. */
  async setRoomSettings(userId: string, roomId: string, muted: boolean): Promise<{ roomId: string; muted: boolean }> {
    await this.#requireMember(userId, roomId)
    await this.#store.setRoomMuted(userId, roomId, muted)
    return { roomId, muted }
  }

  /** `userId`'s own notification settings. */
  async userSettings(userId: string): Promise<{ doNotDisturb: boolean }> {
    return { doNotDisturb: await this.#store.doNotDisturb(userId) }
  }

  /** Turns do-not-disturb on or off: while on, no push reaches any of the user's devices. */
  async setUserSettings(userId: string, doNotDisturb: boolean): Promise<{ doNotDisturb: boolean }> {
    await this.#store.setDoNotDisturb(userId, doNotDisturb)
    return { doNotDisturb }
  }

  /** For shutdown: records what is buffered, then stops the worker (before the database closes). */
  async close(): Promise<void> {
    await this.#stored.idle()
    this.#closed = true
    await this.#worker.close()
  }

  async #requireMember(userId: string, roomId: string): Promise<void> {
    if (!(await this.#members.isMember(roomId, userId))) throw new ChatError('room_not_found')
  }
}
