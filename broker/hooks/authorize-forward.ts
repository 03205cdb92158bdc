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
 *
 * Nothing goes to a client before its CONNACK ([MQTT-3.2.0-1]: the first
 * packet from the server is CONNACK). Aedes restores a persistent session's
 * subscriptions before it writes the CONNACK (handlers/connect.js,
 * `restoreSubs` before `doConnack`), so a message published in between
 * would be written first, and MQTT.js then stops taking the session's
 * queued messages. Holding it back loses nothing: Aedes queues a QoS 1
 * message for every persistent session before it emits it
 * (`enqueueOffline` before `emitPacket`), and the queue is read after the
 * CONNACK.
 */
export function authorizeForwardHook(deps: { membership: MembershipCache; sessions: Sessions }) {
  return function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (!(client as Client & { connackSent?: boolean }).connackSent) return null
    const session = deps.sessions.get(client)
    if (!session) return null
    const userTopic = parseUserTopic(packet.topic)
    if (userTopic) return userTopic.userId === session.userId ? packet : null
    const chat = parseRoomTopic(packet.topic)
    if (chat) return deps.membership.knownNonMember(chat.roomId, session.userId) ? null : packet
    return null
  }
}
