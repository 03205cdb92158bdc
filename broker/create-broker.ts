import { Aedes } from 'aedes'
import type { Services } from '../shared/services.ts'
import type { Logger } from '../shared/logger.ts'
import type { ClusterNote } from '../shared/events.ts'
import type { Realtime } from '../shared/realtime.ts'
import { authenticateHook } from './hooks/authenticate.ts'
import { authorizePublishHook } from './hooks/authorize-publish.ts'
import { authorizeSubscribeHook, SubscriptionCounter } from './hooks/authorize-subscribe.ts'
import { createBrokerState } from './broker-state.ts'
import { authorizeForwardHook } from './hooks/authorize-forward.ts'
import { Sessions } from './sessions.ts'
import { brokerRealtime } from './realtime.ts'

/** The MQTT adapter: an Aedes broker whose hooks call the shared services. */
export interface ChatBroker {
  aedes: Aedes
  /** Messages and events to clients, and notes to the other nodes, for the shared services. */
  realtime: Realtime
  /** Calls `handler` with every cluster note (this node's own included); resolves once listening. */
  onClusterNote(handler: (note: ClusterNote) => void): Promise<void>
  close(): Promise<void>
}

/** Per-connection limits, from config. */
export interface BrokerLimits {
  /** Time allowed from opening a connection to completing CONNECT. */
  connectTimeoutMs: number
  /** A client whose socket has not drained for this long is disconnected (a slow or frozen consumer). */
  drainTimeoutMs: number
  /** Subscriptions one connection may hold. */
  maxSubscriptions: number
}

/**
 * Creates the broker; it accepts connections once `startMqttListeners` hands
 * it sockets. With `redis`, routing and sessions are shared with the other
 * nodes; without, they live in this process's memory.
 */
export async function createChatBroker(services: Services, log: Logger, limits: BrokerLimits, redis?: { url: string; keyPrefix: string }): Promise<ChatBroker> {
  const sessions = new Sessions()
  let realtime: ReturnType<typeof brokerRealtime> | undefined
  const state = createBrokerState(redis, log)
  const subscriptions = new SubscriptionCounter()
  const aedes = await Aedes.createBroker({
    connectTimeout: limits.connectTimeoutMs,
    drainTimeout: limits.drainTimeoutMs,
    mq: state.mq,
    ...(state.persistence ? { persistence: state.persistence } : {}),
    authenticate: authenticateHook({ tokens: services.tokens, accounts: services.accounts, sessions, presence: services.presence, log }),
    authorizePublish: authorizePublishHook({ messages: services.messages, roomEvents: services.roomEvents, sessions, log, reportError: (userId, event) => realtime!.userEvent(userId, 'errors', event) }),
    authorizeSubscribe: authorizeSubscribeHook({ membership: services.membership, sessions, log, counter: subscriptions, maxSubscriptions: limits.maxSubscriptions, reportError: (userId, event) => realtime!.userEvent(userId, 'errors', event) }),
    authorizeForward: authorizeForwardHook({ membership: services.membership, sessions }),
  })
  aedes.on('clientDisconnect', (client) => sessions.end(client))
  aedes.on('unsubscribe', (filters, client) => subscriptions.remove(client, filters))
  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'))
  aedes.on('connectionError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt connection error'))
  ;(aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'))
  realtime = brokerRealtime(aedes, log)
  return {
    aedes,
    realtime,
    onClusterNote: realtime.onClusterNote,
    async close() {
      // Started first so the connections the broker closes are recorded but not announced.
      const presenceClosed = services.presence.close()
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      await presenceClosed
      await state.close()
    },
  }
}
