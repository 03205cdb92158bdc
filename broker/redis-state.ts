import { Readable } from 'node:stream'
import { Redis } from 'ioredis'
import mqemitterRedis from 'mqemitter-redis'
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import type { Logger } from '../shared/logger.ts'

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

/** Broker state shared by every node through Redis: message routing and MQTT sessions. */
export interface RedisBrokerState {
  /** For Aedes's `mq` option: publishes reach subscribers on every node. */
  mq: unknown
  /** For Aedes's `persistence` option: subscriptions, offline QoS 1 queues and wills of `clean: false` sessions. */
  persistence: unknown
  close(): Promise<void>
}

/**
 * Connects the broker state to Redis at `url`: mqemitter-redis routes
 * messages between nodes over pub/sub, and aedes-persistence-redis keeps
 * sessions under `keyPrefix`, so a client may reconnect to any node.
 * Nodes that share `keyPrefix` form one cluster.
 */
export function connectRedisState(url: string, keyPrefix: string, log: Logger): RedisBrokerState {
  const connections = [new Redis(url), new Redis(url), new Redis(url, { keyPrefix })]
  for (const connection of connections) connection.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'))
  const [subConn, pubConn, sessions] = connections as [Redis, Redis, Redis]
  const mq = mqemitterRedis({ subConn, pubConn })
  mq.state.on('error', (err: Error) => log.warn({ err: err.message }, 'redis message routing error'))
  const persistence = new ChatRedisPersistence({ conn: sessions })
  return {
    mq,
    persistence,
    async close() {
      // aedes closes `mq` (and with it both pub/sub connections) in broker.close(); the sessions connection is ours.
      await persistence.destroy()
    },
  }
}
