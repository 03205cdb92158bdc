import type { AedesPublishPacket, Client } from 'aedes'
import type { MembershipCache } from '../../shared/chat/membership-cache.ts'
import { parseRoomTopic, parseUserTopic } from '../../shared/topics.ts'
import type { Sessions } from '../sessions.ts'

/**
 * Every delivery, live or from a stored session queue, a second line of
 * defence behind authorize-subscribe: a user's private topics go only to
 * that user, and a room's messages to nobody the membership cache knows to
 * be outside the room. The hook is synchronous, so it trusts the cache's
 * last known answer and lets through what the cache has not loaded (the
 * subscription itself was checked).
 */
export function authorizeForwardHook(deps: { membership: MembershipCache; sessions: Sessions }) {
  return function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const session = deps.sessions.get(client)
    if (!session) return null
    const userTopic = parseUserTopic(packet.topic)
    if (userTopic) return userTopic.userId === session.userId ? packet : null
    const chat = parseRoomTopic(packet.topic)
    if (chat) return deps.membership.knownNonMember(chat.roomId, session.userId) ? null : packet
    return null
  }
}
