import { Aedes } from 'aedes'
import type { Services } from '../shared/services.ts'
import type { Logger } from '../shared/logger.ts'
import type { ClusterNote } from '../shared/events.ts'
import type { Realtime } from '../shared/realtime.ts'
import type { Metrics } from '../shared/metrics.ts'
import { authenticateHook, preConnectHook } from './hooks/authenticate.ts'
import { authorizePublishHook } from './hooks/authorize-publish.ts'
import { authorizeSubscribeHook, SubscriptionCounter } from './hooks/authorize-subscribe.ts'
import { createBrokerState } from './broker-state.ts'
import { authorizeForwardHook } from './hooks/authorize-forward.ts'
import { Sessions } from './sessions.ts'
import { brokerRealtime } from './realtime.ts'
import { countingDeliveries, countingReports, observeBroker, PublishTracker } from './observe.ts'
import { emitInCounterOrder } from './emit-in-order.ts'

/** How long a clean close of the Redis connections may take before they are dropped. */
const REDIS_CLOSE_GRACE_MS = 2000

/** Whether `closing` settled within {@link REDIS_CLOSE_GRACE_MS}. */
async function withinGrace(closing: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), REDIS_CLOSE_GRACE_MS) })
  const done = await Promise.race([closing.then(() => true, () => true), late])
  clearTimeout(timer)
  return done
}

/** The MQTT adapter: an Aedes broker whose hooks call the shared services. */
export interface ChatBroker {
  aedes: Aedes
  /** Messages and events to clients, and notes to the other nodes, for the shared services. */
  realtime: Realtime
  /** Calls `handler` with every cluster note (this node's own included); resolves once listening. */
  onClusterNote(handler: (note: ClusterNote) => void): Promise<void>
  /**
   * The first step of a graceful shutdown: stops reading from every client
   * and resolves once each publish already read has been answered (stored
   * and acknowledged, or refused).
   */
  drain(): Promise<void>
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
  /** Messages one persistent session may have queued while it is not connected (see broker/bounded-queues.ts). */
  offlineQueueMax: number
}

/**
 * Creates the broker; it accepts connections once `startMqttListeners` hands
 * it sockets. With `redis`, routing and sessions are shared with the other
 * nodes; without, they live in this process's memory. `metrics` counts
 * connections, publishes, deliveries and refusals (see broker/observe.ts).
 */
export async function createChatBroker(services: Services, log: Logger, limits: BrokerLimits, redis: { url: string; keyPrefix: string } | undefined, metrics: Metrics): Promise<ChatBroker> {
  const sessions = new Sessions()
  let realtime: ReturnType<typeof brokerRealtime> | undefined
  const state = await createBrokerState(redis, log, { max: limits.offlineQueueMax, isConnected: (userId, clientId) => services.presence.isSessionConnected(userId, clientId) })
  const subscriptions = new SubscriptionCounter()
  const publishes = new PublishTracker(metrics)
  const reportError = countingReports((userId, event) => realtime!.userEvent(userId, 'errors', event), metrics)
  const aedes = await Aedes.createBroker({
    connectTimeout: limits.connectTimeoutMs,
    drainTimeout: limits.drainTimeoutMs,
    mq: state.mq,
    ...(state.persistence ? { persistence: state.persistence } : {}),
    preConnect: preConnectHook,
    authenticate: authenticateHook({ tokens: services.tokens, accounts: services.accounts, sessions, presence: services.presence, log }),
    authorizePublish: publishes.wrap(authorizePublishHook({ messages: services.messages, roomEvents: services.roomEvents, sessions, log, reportError })),
    authorizeSubscribe: authorizeSubscribeHook({ membership: services.membership, sessions, log, counter: subscriptions, maxSubscriptions: limits.maxSubscriptions, reportError }),
    authorizeForward: authorizeForwardHook({ membership: services.membership, sessions }),
  })
  emitInCounterOrder(aedes, log)
  aedes.on('clientDisconnect', (client) => sessions.end(client))
  aedes.on('unsubscribe', (filters, client) => subscriptions.remove(client, filters))
  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'))
  aedes.on('connectionError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt connection error'))
  ;(aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => log.error({ err }, 'broker error'))
  observeBroker(aedes, { sessions, log, metrics })
  realtime = countingDeliveries(brokerRealtime(aedes, log), metrics)
  return {
    aedes,
    realtime,
    onClusterNote: realtime.onClusterNote,
    async drain() {
      // Aedes keeps its connected clients in `clients`, and `pause()` stops reading a client's socket (neither is in its typings).
      for (const client of Object.values((aedes as unknown as { clients: Record<string, { pause(): void }> }).clients)) client.pause()
      await publishes.idle()
      // The write coalescer sends a turn's packets from an immediate queued before this one: let the last PUBACKs go out before the sockets close.
      await new Promise((resolve) => setImmediate(resolve))
    },
    async close() {
      sessions.close()
      // Started first so the connections the broker closes are recorded but not announced.
      const presenceClosed = services.presence.close()
      // Aedes closes its clients, then its message router; with Redis unreachable the router never says it closed.
      const closed = new Promise<void>((resolve) => aedes.close(() => resolve()))
      while (!(await withinGrace(closed))) {
        if (!state.dropIfUnreachable()) continue
        log.warn('Redis is unreachable: broker close stopped waiting for it, its connections dropped')
        break
      }
      await presenceClosed
      if (!(await withinGrace(state.close()))) log.warn('session store did not close in time; left behind')
    },
  }
}
