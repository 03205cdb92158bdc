import type { Client } from 'aedes'
import mqemitter from 'mqemitter'
import aedesPersistence from 'aedes-persistence'
import type { Logger } from '../shared/logger.ts'
import { boundOutgoingQueues, countMemoryQueues, type OutgoingQueues } from './bounded-queues.ts'
import { storeGrantedOnly } from './granted-subscriptions.ts'
import { ignoreUnsentClears } from './unsent-clears.ts'
import { withoutDiscarded } from './without-discarded.ts'

/** What Aedes is given for routing and session state, and how to release it. */
export interface BrokerState {
  /** Aedes's `mq` option: carries every publish to the subscribers (on every node, with Redis). */
  mq: { emit(packet: { topic: string }, cb?: (err?: Error) => void): void }
  /** Aedes's `persistence` option: in memory, or in Redis. */
  persistence: unknown
  close(): Promise<void>
  /**
   * When Redis cannot be reached (a connection neither ready nor ended),
   * drops the Redis connections and stops
   * their retries, and answers true. mqemitter-redis closes by QUIT and waits
   * for each connection's `end`, which a connection retrying an unreachable
   * Redis never emits (ioredis 6), so its close, and Aedes's with it, would
   * never finish. While Redis is reachable it does nothing: a slow close is
   * still finishing its work.
   */
  dropIfUnreachable(): boolean
}

/** How many messages a persistent session may queue while not connected, and how to tell whether it is connected. */
export interface OfflineQueueLimits {
  max: number
  /** Whether the session with broker-side client id `clientId` (of `userId`) is connected, on any node. */
  isConnected(userId: string, clientId: string): Promise<boolean>
}

/** Aedes's own in-memory persistence (its default), made here so it can be wrapped. */
const memoryPersistence = aedesPersistence as unknown as () => OutgoingQueues & { addSubscriptions(client: Client, subs: Array<{ topic: string }>): Promise<unknown> }

/**
 * Broker state in this process's memory (one node), or, with `redis`, shared
 * by every node: mqemitter-redis routes publishes between nodes over pub/sub
 * and aedes-persistence-redis keeps sessions under `keyPrefix`, so a client
 * may reconnect to any node. Nodes that share `keyPrefix` form one cluster.
 * Persistent sessions not connected queue at most `queues.max` messages each.
 * The Redis clients are loaded only for a cluster (about 4 MB of heap a single node would carry for nothing).
 */
export async function createBrokerState(redis: { url: string; keyPrefix: string } | undefined, log: Logger, queues: OfflineQueueLimits): Promise<BrokerState> {
  if (!redis) {
    const memory = ignoreUnsentClears(storeGrantedOnly(memoryPersistence()))
    return { mq: withoutDiscarded(mqemitter()), persistence: boundOutgoingQueues(memory, queues.max, countMemoryQueues(memory), queues.isConnected, log), close: async () => {}, dropIfUnreachable: () => false }
  }
  const { createRedisBrokerState } = await import('./redis-broker-state.ts')
  return createRedisBrokerState(redis, log, queues)
}
