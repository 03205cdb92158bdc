import { Aedes } from 'aedes'
import type { Services } from '../shared/services.ts'
import type { Logger } from '../shared/logger.ts'
import { encodeEnvelope, type ErrorEvent, type MessageEnvelope } from '../shared/protocol.ts'
import { chatTopic, userTopic } from '../shared/topics.ts'
import { authenticateHook } from './hooks/authenticate.ts'
import { authorizePublishHook } from './hooks/authorize-publish.ts'
import { authorizeSubscribeHook } from './hooks/authorize-subscribe.ts'
import { createBrokerState } from './broker-state.ts'
import { authorizeForwardHook } from './hooks/authorize-forward.ts'
import { Sessions } from './sessions.ts'

/** The MQTT adapter: an Aedes broker whose hooks call the shared services. */
export interface ChatBroker {
  aedes: Aedes
  /** Publishes a stored message to the room's subscribers (the HTTP path's fan-out). */
  deliver(message: MessageEnvelope): void
  close(): Promise<void>
}

/**
 * Creates the broker; it accepts connections once `startMqttListeners` hands
 * it sockets. With `redis`, routing and sessions are shared with the other
 * nodes; without, they live in this process's memory.
 */
export async function createChatBroker(services: Services, log: Logger, redis?: { url: string; keyPrefix: string }): Promise<ChatBroker> {
  const sessions = new Sessions()
  let aedes: Aedes
  const publish = (topic: string, payload: Buffer) => {
    aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err?: Error) => {
      if (err) log.error({ err, topic }, 'broker publish failed')
    })
  }
  const reportError = (userId: string, event: ErrorEvent) => publish(userTopic(userId, 'errors'), Buffer.from(JSON.stringify(event)))
  const state = createBrokerState(redis, log)
  aedes = await Aedes.createBroker({
    mq: state.mq,
    ...(state.persistence ? { persistence: state.persistence } : {}),
    authenticate: authenticateHook({ tokens: services.tokens, accounts: services.accounts, sessions, log }),
    authorizePublish: authorizePublishHook({ messages: services.messages, sessions, log, reportError }),
    authorizeSubscribe: authorizeSubscribeHook({ membership: services.membership, sessions, log }),
    authorizeForward: authorizeForwardHook({ membership: services.membership, sessions }),
  })
  aedes.on('clientDisconnect', (client) => sessions.end(client))
  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'))
  aedes.on('connectionError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt connection error'))
  ;(aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'))
  return {
    aedes,
    deliver: (message) => publish(chatTopic(message.roomId, message.senderId), encodeEnvelope(message)),
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      await state.close()
    },
  }
}
