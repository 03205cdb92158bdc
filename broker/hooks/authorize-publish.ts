import type { Client, PublishPacket } from 'aedes'
import { ChatError } from '../../shared/errors.ts'
import type { MessageService } from '../../shared/chat/message-service.ts'
import type { RoomEventService } from '../../shared/chat/room-event-service.ts'
import { parseClientRoomEvent, type ClientRoomEvent } from '../../shared/events.ts'
import { parseMessagePayload, type ErrorEvent, type OutgoingMessage } from '../../shared/protocol.ts'
import { parseRoomTopic } from '../../shared/topics.ts'
import type { Logger } from '../../shared/logger.ts'
import type { Sessions } from '../sessions.ts'

/**
 * Where refused and resent publishes are sent instead of their topic. No
 * client may subscribe to it (see authorize-subscribe) and `#` never matches
 * a `$` topic (MQTT 3.1.1 section 4.7.2), so nothing is delivered.
 */
export const DISCARD_TOPIC = '$mqchat/discarded'

/** The checked content of a publish, or the refusal and whatever client id could be read. */
type Checked =
  | { ok: true; roomId: string; message: OutgoingMessage }
  | { ok: true; roomId: string; event: ClientRoomEvent }
  | { ok: false; error: ChatError; clientMsgId?: string | undefined }

/**
 * Step 1: the topic must be `chat/<roomId>/<ownUserId>` with a valid message,
 * or `chat/<roomId>/events` with a valid event. A message payload is read
 * even when the topic is wrong, so that every refusal can name the client's
 * message id.
 */
function checkPublish(topic: string, payload: Buffer, userId: string, maxBodyBytes: number): Checked {
  const target = parseRoomTopic(topic)
  if (target && target.senderId === null) {
    try {
      return { ok: true, roomId: target.roomId, event: parseClientRoomEvent(payload, maxBodyBytes) }
    } catch (err) {
      return { ok: false, error: err as ChatError }
    }
  }
  const topicOk = target !== null && target.senderId === userId
  const topicError = () => new ChatError('topic_not_allowed', 'Publish only to chat/<roomId>/<yourUserId> or chat/<roomId>/events.')
  try {
    const message = parseMessagePayload(payload, maxBodyBytes)
    return topicOk ? { ok: true, roomId: target.roomId, message } : { ok: false, error: topicError(), clientMsgId: message.clientMsgId }
  } catch (err) {
    const error = err as ChatError
    const clientMsgId = (error.details as { clientMsgId?: string } | undefined)?.clientMsgId
    return { ok: false, error: topicOk ? error : topicError(), clientMsgId }
  }
}

/** Step 2: hands a checked publish to the shared services. */
function handle(checked: Extract<Checked, { ok: true }>, userId: string, deps: { messages: MessageService; roomEvents: RoomEventService }): Promise<unknown> {
  if ('message' in checked) return deps.messages.send(userId, checked.roomId, checked.message)
  return deps.roomEvents.handle(userId, checked.roomId, checked.event)
}

/** Longest topic echoed back in an error report, so a report stays small. */
const REPORTED_TOPIC_MAX = 256

/**
 * PUBLISH, the durable-ack step. aedes writes the QoS 1 PUBACK right after
 * this hook calls back, so the message is stored here, by the shared message
 * path, before calling back. The client's own packet is always sent to
 * {@link DISCARD_TOPIC}: the message path delivers the stored envelope
 * itself, whether or not the sender is still there to take its PUBACK.
 *
 * 1. check topic and payload ({@link checkPublish});
 * 2. a message goes to `messages.send`, which authorizes, numbers,
 *    group-commits and delivers it (a resend, same client id, is
 *    acknowledged again and delivered nowhere); an event (read receipt,
 *    typing, edit, delete) goes to `roomEvents.handle`;
 * 3. refused: acknowledged (MQTT 3.1.1 has no negative PUBACK; Mosquitto and
 *    EMQX do the same) and the code is reported on the sender's
 *    `user/<id>/errors` topic;
 * 4. not stored for want of capacity or a database: the hook fails, aedes
 *    closes the connection without a PUBACK, and the client resends later.
 *
 * A publish with no session is a will of a client of a dead node, replayed
 * by aedes without its client: it is discarded, never trusted.
 */
export function authorizePublishHook(deps: { messages: MessageService; roomEvents: RoomEventService; sessions: Sessions; log: Logger; reportError(userId: string, event: ErrorEvent): void }) {
  return function authorizePublish(client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void {
    const session = deps.sessions.get(client)
    const topic = packet.topic
    packet.topic = DISCARD_TOPIC
    packet.retain = false
    if (!session) return done(null)
    const refuse = (error: ChatError, clientMsgId: string | undefined) => {
      const reported = topic.length > REPORTED_TOPIC_MAX ? `${topic.slice(0, REPORTED_TOPIC_MAX)}…` : topic
      const retryAfterMs = (error.details as { retryAfterMs?: number } | undefined)?.retryAfterMs
      deps.reportError(session.userId, { code: error.code, message: error.message, topic: reported, ...(clientMsgId ? { clientMsgId } : {}), ...(retryAfterMs ? { retryAfterMs } : {}) })
      done(null)
    }

    const checked = checkPublish(topic, packet.payload as Buffer, session.userId, deps.messages.maxBodyBytes)
    if (!checked.ok) return refuse(checked.error, checked.clientMsgId)
    const clientMsgId = 'message' in checked ? checked.message.clientMsgId : undefined
    handle(checked, session.userId, deps).then(() => done(null), (err: unknown) => {
      if (err instanceof ChatError && err.code !== 'server_busy') return refuse(err, clientMsgId)
      deps.log.warn({ err, clientId: client?.id, userId: session.userId }, 'publish not stored; closing without PUBACK')
      done(err instanceof Error ? err : new Error(String(err)))
    }).catch((err: unknown) => deps.log.error({ err }, 'publish completion failed'))
  }
}
