import type { Client, Subscription } from 'aedes'
import type { MembershipCache } from '../../shared/chat/membership-cache.ts'
import { parseSubscription } from '../../shared/topics.ts'
import type { Logger } from '../../shared/logger.ts'
import type { Sessions } from '../sessions.ts'

/**
 * SUBSCRIBE: a member may subscribe to `chat/<roomId>/+` or one sender's
 * topic in a room of theirs, and a user to their own `user/<ownId>/...`.
 * Every other filter is refused with SUBACK 0x80 (MQTT 3.1.1 section
 * 3.9.3), never silently granted; the connection stays up.
 */
export function authorizeSubscribeHook(deps: { membership: MembershipCache; sessions: Sessions; log: Logger }) {
  return function authorizeSubscribe(client: Client, sub: Subscription, done: (error: Error | null, subscription?: Subscription | null) => void): void {
    const session = deps.sessions.get(client)
    const target = parseSubscription(sub.topic)
    const grant = () => done(null, sub)
    const deny = () => {
      deps.log.info({ clientId: client.id, userId: session?.userId, topic: sub.topic }, 'subscription refused')
      done(null, null)
    }
    if (!session || !target) return deny()
    if (target.kind === 'user') return target.userId === session.userId ? grant() : deny()
    deps.membership.isMember(target.roomId, session.userId).then((member) => (member ? grant() : deny()), (err: unknown) => {
      deps.log.warn({ err, clientId: client.id }, 'membership look-up failed; subscription refused')
      deny()
    })
  }
}
