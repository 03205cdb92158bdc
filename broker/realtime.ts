import type { Aedes } from 'aedes'
import type { ClusterNote } from '../shared/events.ts'
import type { Logger } from '../shared/logger.ts'
import { encodeEnvelope } from '../shared/protocol.ts'
import type { Realtime } from '../shared/realtime.ts'
import { chatTopic, roomEventsTopic, userTopic } from '../shared/topics.ts'

/**
 * The topic of cluster notes. Like every `$` topic it matches no client
 * filter (MQTT 3.1.1 section 4.7.2), and authorize-subscribe refuses it, so
 * only the nodes themselves hear it.
 */
export const CLUSTER_TOPIC = '$mqchat/cluster'

/**
 * The {@link Realtime} port on an Aedes broker: messages and events become
 * server publishes (which pass authorize-forward like any other), and
 * cluster notes travel on the broker's own routing, which is Redis pub/sub
 * when clustered, so no extra connection is needed.
 */
export function brokerRealtime(aedes: Aedes, log: Logger): Realtime & { onClusterNote(handler: (note: ClusterNote) => void): Promise<void> } {
  const publish = (topic: string, payload: Buffer, qos: 0 | 1) => {
    // While the node shuts down, presence still announces the clients it closes; nobody is left to hear it.
    if (aedes.closed) return
    aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err?: Error) => {
      if (err) log.error({ err, topic }, 'broker publish failed')
    })
  }
  const json = (value: unknown) => Buffer.from(JSON.stringify(value))
  const mq = (aedes as unknown as { mq: unknown }).mq as {
    emit(packet: { topic: string; payload: Buffer }, cb?: (err?: Error) => void): void
    on(topic: string, listener: (packet: { payload: Buffer | Uint8Array }, cb: () => void) => void, done?: () => void): void
  }
  return {
    deliver: (message) => publish(chatTopic(message.roomId, message.senderId), encodeEnvelope(message), 1),
    roomEvent: (event) => publish(roomEventsTopic(event.roomId), json(event), event.type === 'typing' ? 0 : 1),
    userEvent: (userId: string, stream: 'rooms' | 'presence' | 'errors', event: unknown) => publish(userTopic(userId, stream), json(event), 1),
    broadcast: (note) => mq.emit({ topic: CLUSTER_TOPIC, payload: json(note) }, (err) => {
      if (err) log.error({ err }, 'cluster note not sent')
    }),
    /** Calls `handler` with every note; resolves once notes are being received (with Redis, once subscribed). */
    onClusterNote(handler) {
      return new Promise((resolve) => mq.on(CLUSTER_TOPIC, (packet, cb) => {
        try {
          handler(JSON.parse(Buffer.from(packet.payload).toString('utf8')) as ClusterNote)
        } catch (err) {
          log.error({ err }, 'cluster note failed')
        }
        cb()
      }, resolve))
    },
  }
}
