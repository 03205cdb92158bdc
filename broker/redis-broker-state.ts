import { Readable } from 'node:stream'
import { Redis } from 'ioredis'
import mqemitterRedis from 'mqemitter-redis'
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import type { Logger } from '../shared/logger.ts'
import { boundOutgoingQueues, redisQueueLengths } from './bounded-queues.ts'
import type { BrokerState, OfflineQueueLimits } from './broker-state.ts'
import { storeGrantedOnly } from './granted-subscriptions.ts'
import { ignoreUnsentClears } from './unsent-clears.ts'
import { withoutDiscarded } from './without-discarded.ts'

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
 * Broker state shared by every node through Redis at `redis.url`:
 * mqemitter-redis routes publishes between nodes over pub/sub and
 * aedes-persistence-redis keeps sessions under `keyPrefix`. Loaded by
 * {@link createBrokerState} only when a cluster is configured.
 */
export function createRedisBrokerState(redis: { url: string; keyPrefix: string }, log: Logger, queues: OfflineQueueLimits): BrokerState {
  const connections = [new Redis(redis.url), new Redis(redis.url), new Redis(redis.url, { keyPrefix: redis.keyPrefix })]
  for (const connection of connections) connection.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'))
  const [subConn, pubConn, sessions] = connections as [Redis, Redis, Redis]
  for (const connection of [subConn, pubConn]) quietQuit(connection)
  const mq = mqemitterRedis({ subConn, pubConn })
  mq.state.on('error', (err: Error) => log.warn({ err: err.message }, 'redis message routing error'))
  const redisPersistence = ignoreUnsentClears(storeGrantedOnly(new ChatRedisPersistence({ conn: sessions })))
  const persistence = boundOutgoingQueues(redisPersistence, queues.max, redisQueueLengths(sessions), queues.isConnected, log)
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
