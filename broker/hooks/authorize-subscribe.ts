import type { Client, Subscription } from 'aedes'
import type { MembershipCache } from '../../shared/chat/membership-cache.ts'
import { ChatError } from '../../shared/errors.ts'
import type { ErrorEvent } from '../../shared/protocol.ts'
import { parseSubscription } from '../../shared/topics.ts'
import type { Logger } from '../../shared/logger.ts'
import { markGranted } from '../granted-subscriptions.ts'
import type { Sessions } from '../sessions.ts'

/**
 * The filters each connection holds, to enforce MQTT_MAX_SUBSCRIPTIONS.
 * Aedes authorizes the filters of one SUBSCRIBE in parallel, before it
 * records any, so its own `client.subscriptions` would miss the packet's
 * other filters; this set counts a filter the moment it is granted.
 */
export class SubscriptionCounter {
  readonly #granted = new WeakMap<Client, Set<string>>()

  /** Counts `filter` for `client` unless that would exceed `max`; re-subscribing to a held filter always fits. */
  tryAdd(client: Client, filter: string, max: number): boolean {
    let granted = this.#granted.get(client)
    if (!granted) {
      // A resumed session brings the filters aedes restored without asking this hook.
      granted = new Set(Object.keys((client as unknown as { subscriptions: object }).subscriptions ?? {}))
      this.#granted.set(client, granted)
    }
    if (granted.has(filter)) return true
    if (granted.size >= max) return false
    granted.add(filter)
    return true
  }

  /** Forgets filters the client unsubscribed from. */
  remove(client: Client, filters: readonly string[]): void {
    const granted = this.#granted.get(client)
    for (const filter of filters) granted?.delete(filter)
  }
}

/**
 * SUBSCRIBE: a member may subscribe to `chat/<roomId>/+`, the room's events
 * or one sender's topic in a room of theirs, and a user to their own
 * `user/<ownId>/...`, up to `maxSubscriptions` filters per connection. Every
 * other filter is refused with SUBACK 0x80 (MQTT 3.1.1 section 3.9.3), never
 * silently granted; the connection stays up. Going over the limit is also
 * reported on the user's error topic, since 0x80 alone cannot say why.
 */
export function authorizeSubscribeHook(deps: {
  membership: MembershipCache; sessions: Sessions; log: Logger; counter: SubscriptionCounter; maxSubscriptions: number
  reportError(userId: string, event: ErrorEvent): void
}) {
  return function authorizeSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void): void {
    const session = deps.sessions.get(client)
    const target = parseSubscription(sub.topic)
    const deny = () => {
      deps.log.info({ clientId: client.id, userId: session?.userId, topic: sub.topic }, 'subscription refused')
      done(null, null)
    }
    const grant = () => {
      if (deps.counter.tryAdd(client, sub.topic, deps.maxSubscriptions)) {
        markGranted(sub)
        return done(null, sub)
      }
      const error = new ChatError('too_many_subscriptions', `A connection may hold at most ${deps.maxSubscriptions} subscriptions.`)
      deps.reportError(session!.userId, { code: error.code, message: error.message, topic: sub.topic.slice(0, 256) })
      deny()
    }
    if (!session || !target) return deny()
    if (target.kind === 'user') return target.userId === session.userId ? grant() : deny()
    deps.membership.isMember(target.roomId, session.userId).then((member) => (member ? grant() : deny()), (err: unknown) => {
      deps.log.warn({ err, clientId: client.id }, 'membership look-up failed; subscription refused')
      deny()
    })
  }
}
