import { Readable } from 'node:stream'
import type { Client } from 'aedes'
import { Redis } from 'ioredis'
import mqemitter from 'mqemitter'
import mqemitterRedis from 'mqemitter-redis'
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import aedesPersistence from 'aedes-persistence'
import type { Logger } from '../shared/logger.ts'
import { boundOutgoingQueues, countMemoryQueues, redisQueueLengths, type OutgoingQueues } from './bounded-queues.ts'
import { storeGrantedOnly } from './granted-subscriptions.ts'
import { DISCARD_TOPIC } from './hooks/authorize-publish.ts'
import { ignoreUnsentClears } from './unsent-clears.ts'

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

/** Aedes's own in-memory persistence (its default), made here so it can be wrapped. */
const memoryPersistence = aedesPersistence as unknown as () => OutgoingQueues & { addSubscriptions(client: Client, subs: Array<{ topic: string }>): Promise<unknown> }

/**
 * aedes-persistence-redis 12 for Aedes 1.2. Aedes pipes the retained-message
 * look-up of every SUBSCRIBE as a stream, which this package returns as an
 * async generator; and mqchat never retains (authorizePublish clears the
 * flag), so the look-up answers an empty stream without asking Redis.
 */
class ChatRedisPersistence extends AsyncRedisPersistence {
  createRetainedStreamCombi(): Readable {
    return Readable.from([])
  }

  createRetainedStream(): Readable {
    return Readable.from([])
  }
}

/**
 * Drops publishes to {@link DISCARD_TOPIC} before they are routed: every
 * client publish ends there once the message path has handled it, and
 * sending them on (to Redis, in a cluster) would be pure waste.
 */
function withoutDiscarded<T extends BrokerState['mq']>(mq: T): T {
  const emit = mq.emit.bind(mq)
  mq.emit = (packet, cb) => (packet.topic === DISCARD_TOPIC ? cb?.() : emit(packet, cb))
  return mq
}

/**
 * mqemitter-redis 7 closes its connections with `quit()` and drops the
 * promise; when the socket closes before QUIT's answer (Redis going away, or
 * {@link BrokerState.dropIfUnreachable}), ioredis rejects it, unhandled,
 * which would end the process in the middle of its shutdown.
 */
function quietQuit(connection: Redis): void {
  const quit = connection.quit.bind(connection)
  connection.quit = ((...args: Parameters<Redis['quit']>) => {
    const answer = quit(...args)
    answer.catch(() => {})
    return answer
  }) as Redis['quit']
}

/**
 * Broker state in this process's memory (one node), or, with `redis`, shared
 * by every node: mqemitter-redis routes publishes between nodes over pub/sub
 * and aedes-persistence-redis keeps sessions under `keyPrefix`, so a client
 * may reconnect to any node. Nodes that share `keyPrefix` form one cluster.
 * The persistent sessions of offline users queue at most `queues.max` messages each.
 */
export function createBrokerState(redis: { url: string; keyPrefix: string } | undefined, log: Logger, queues: { max: number; isOnline(userId: string): Promise<boolean> }): BrokerState {
  if (!redis) {
    const memory = ignoreUnsentClears(storeGrantedOnly(memoryPersistence()))
    return { mq: withoutDiscarded(mqemitter()), persistence: boundOutgoingQueues(memory, queues.max, countMemoryQueues(memory), queues.isOnline, log), close: async () => {}, dropIfUnreachable: () => false }
  }
  const connections = [new Redis(redis.url), new Redis(redis.url), new Redis(redis.url, { keyPrefix: redis.keyPrefix })]
  for (const connection of connections) connection.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'))
  const [subConn, pubConn, sessions] = connections as [Redis, Redis, Redis]
  for (const connection of [subConn, pubConn]) quietQuit(connection)
  const mq = mqemitterRedis({ subConn, pubConn })
  mq.state.on('error', (err: Error) => log.warn({ err: err.message }, 'redis message routing error'))
  const redisPersistence = ignoreUnsentClears(storeGrantedOnly(new ChatRedisPersistence({ conn: sessions })))
  const persistence = boundOutgoingQueues(redisPersistence, queues.max, redisQueueLengths(sessions), queues.isOnline, log)
  return {
    mq: withoutDiscarded(mq),
    persistence,
    // Aedes closes `mq`, and with it both pub/sub connections; the sessions connection is ours.
    close: () => persistence.destroy(),
    dropIfUnreachable: () => {
      if (connections.every((connection) => connection.status === 'ready' || connection.status === 'end')) return false
      connections.forEach((connection) => connection.disconnect())
      return true
    },
  }
}
