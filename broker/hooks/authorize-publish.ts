import type { Client, PublishPacket } from 'aedes'
import { ChatError } from '../../shared/errors.ts'
import type { MessageService } from '../../shared/chat/message-service.ts'
import { encodeEnvelope, parseMessagePayload, type ErrorEvent } from '../../shared/protocol.ts'
import { parseChatTopic } from '../../shared/topics.ts'
import type { Logger } from '../../shared/logger.ts'
import type { Sessions } from '../sessions.ts'

/**
 * Where refused and resent publishes are sent instead of their topic. No
 * client may subscribe to it (see authorize-subscribe) and `#` never matches
 * a `$` topic (MQTT 3.1.1 section 4.7.2), so nothing is delivered.
 */
export const DISCARD_TOPIC = '$mqchat/discarded'

/**
 * PUBLISH, the durable-ack step. aedes writes the QoS 1 PUBACK right after
 * this hook calls back and before it forwards the message, so the message is
 * stored here, by the shared message path, before calling back:
 *
 * 1. check the topic is `chat/<roomId>/<ownUserId>` and parse the payload;
 * 2. `messages.send` authorizes, numbers and group-commits it;
 * 3. stored: the payload becomes the server envelope and aedes forwards it;
 *    a resend (same client id): acknowledged again, forwarded nowhere;
 * 4. refused: acknowledged (MQTT 3.1.1 has no negative PUBACK; Mosquitto and
 *    EMQX do the same), forwarded nowhere, and the code is reported on the
 *    sender's `user/<id>/errors` topic;
 * 5. not stored for want of capacity or a database: the hook fails, aedes
 *    closes the connection without a PUBACK, and the client resends later.
 */
export function authorizePublishHook(deps: { messages: MessageService; sessions: Sessions; log: Logger; reportError(userId: string, event: ErrorEvent): void }) {
  return function authorizePublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    const session = deps.sessions.get(client)
    if (!session) return done(null) // the broker's own publishes (fan-out, error reports)
    let clientMsgId: string | undefined
    const refuse = (err: ChatError) => {
      packet.topic = DISCARD_TOPIC
      packet.retain = false
      deps.reportError(session.userId, { code: err.code, message: err.message, topic: originalTopic, ...(clientMsgId ? { clientMsgId } : {}) })
      done(null)
    }
    const originalTopic = packet.topic
    const target = parseChatTopic(packet.topic)
    if (!target || target.senderId !== session.userId) return refuse(new ChatError('topic_not_allowed', 'Publish only to chat/<roomId>/<yourUserId>.'))
    let message
    try {
      message = parseMessagePayload(packet.payload as Buffer, deps.messages.maxBodyBytes)
      clientMsgId = message.clientMsgId
    } catch (err) {
      return refuse(err as ChatError)
    }
    deps.messages.send(session.userId, target.roomId, message).then(({ message: stored, duplicate }) => {
      if (duplicate) {
        packet.topic = DISCARD_TOPIC
      } else {
        packet.payload = encodeEnvelope(stored)
      }
      packet.retain = false
      done(null)
    }, (err: unknown) => {
      if (err instanceof ChatError && err.code !== 'server_busy') return refuse(err)
      deps.log.warn({ err, clientId: client?.id, userId: session.userId }, 'publish not stored; closing without PUBACK')
      done(err instanceof Error ? err : new Error(String(err)))
    })
  }
}
