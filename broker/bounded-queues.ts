import type { Redis } from 'ioredis'
import type { Logger } from '../shared/logger.ts'

type Sub = { clientId: string }
type Packet = { topic: string }

/** The part of an Aedes persistence that keeps each persistent session's queue of QoS 1 messages. */
export interface OutgoingQueues {
  outgoingEnqueue(sub: Sub, packet: Packet): Promise<unknown>
  outgoingEnqueueCombi(subs: Sub[], packet: Packet): Promise<unknown>
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<unknown>
}

/** How many messages a session's queue holds now. */
export type QueueLength = (clientIds: string[]) => Promise<number[]>

/**
 * Bounds the queue of every persistent (`clean: false`) session that is not
 * connected at `max` messages. Aedes queues a message for each
 * persistent subscriber of its topic (`outgoingEnqueueCombi`, MQTT 3.1.1
 * section 3.1.2.4: "QoS 1 and QoS 2 messages ... for the Client"); the spec
 * lets a server cap that store, and without a cap one session left offline
 * grows the node's memory (or Redis) for ever. Beyond the cap a session
 * misses newer messages in its queue; they stay in history, and a client
 * catches up with `POST /v1/sync` after reconnecting (docs/PROTOCOL.md).
 *
 * The same queue holds a connected session's unacknowledged deliveries, and
 * Aedes expects every message it delivers to be in it (it updates the entry
 * as it sends, and counts acknowledgements against the sessions that queued
 * it), so a session is never capped while it is itself connected, on any
 * node (`isConnected`: its client id among the connections the presence
 * service counts; asked only of sessions at the cap). Whether its *user* is
 * online says nothing about it: a user's laptop online must not let their
 * tablet's session, offline, queue without limit. A connected session's
 * queue is bounded by `MQTT_DRAIN_TIMEOUT_MS` instead, for a client that
 * stops reading.
 *
 * `isConnected` is exact for this node (from the CONNECT's authentication
 * to the socket's close). For a session on another node it answers from
 * the presence registry in Redis, which that node updates shortly after
 * authenticating the CONNECT and after the socket closes (behind the user's
 * earlier presence changes). Lagging a close, it only lets a few more
 * messages past the cap. Lagging a CONNECT, it may let a publish skip a
 * reconnecting session at the cap while the other node delivers the message
 * live; Aedes then writes the delivery as if it were queued
 * (aedes-persistence-redis `outgoingUpdate`): the client still gets it, but
 * it is not resent after a disconnection before PUBACK (history and
 * `POST /v1/sync` still have it), and its PUBACK decrements a reference
 * count the skip never raised, so the packet may leave Redis early for
 * another session that queued it, or its keys stay behind. That takes a
 * session already `max` behind reconnecting to another node within that
 * lag of a publish. Waiting for the registry before accepting each CONNECT
 * would close the window, at a Redis round trip per connection; not done.
 */
export function boundOutgoingQueues<P extends OutgoingQueues>(persistence: P, max: number, lengths: QueueLength, isConnected: (userId: string, clientId: string) => Promise<boolean>, log: Logger): P {
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence)
  const recent = new RecentLengths(max)
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    // Enqueued at once when every queue was far below the cap a moment ago: a look-up would delay the
    // enqueue, and a session reconnecting meanwhile could read its queue before this message is in it.
    if (subs.every((sub) => recent.farBelowCap(sub.clientId))) {
      for (const sub of subs) recent.added(sub.clientId)
      return enqueue(subs, packet)
    }
    const current = await lengths(subs.map((sub) => sub.clientId))
    subs.forEach((sub, i) => recent.measured(sub.clientId, current[i]! + 1))
    const full = subs.filter((_, i) => current[i]! >= max)
    if (full.length === 0) return enqueue(subs, packet)
    // Scoped client ids are `<userId>:<clientId>` (broker/hooks/authenticate.ts).
    const connected = await Promise.all(full.map((sub) => isConnected(sub.clientId.slice(0, sub.clientId.indexOf(':')), sub.clientId)))
    const skipped = new Set(full.filter((_, i) => !connected[i]))
    if (skipped.size > 0) log.info({ topic: packet.topic, sessions: [...skipped].map((sub) => sub.clientId), max }, 'offline queue full; message left to catch-up')
    return enqueue(subs.filter((sub) => !skipped.has(sub)), packet)
  }
  return persistence
}

/** How long a measured queue length is trusted, counting what this node added since. */
const TRUSTED_MS = 1000

/**
 * Recently measured queue lengths, so that most publishes need no look-up:
 * a queue known to hold under half the cap a second ago cannot have reached
 * it since unless it grows faster than any chat does.
 */
class RecentLengths {
  readonly #max: number
  readonly #known = new Map<string, { length: number; at: number }>()

  constructor(max: number) {
    this.#max = max
  }

  farBelowCap(clientId: string): boolean {
    const known = this.#known.get(clientId)
    return known !== undefined && Date.now() - known.at < TRUSTED_MS && known.length < this.#max / 2
  }

  added(clientId: string): void {
    this.#known.get(clientId)!.length++
  }

  measured(clientId: string, length: number): void {
    if (this.#known.size > 100_000) this.#known.clear()
    this.#known.set(clientId, { length, at: Date.now() })
  }
}

/**
 * Queue lengths for Aedes's in-memory persistence, which does not expose
 * them: counted here as entries go in (either enqueue) and come out (a
 * cleared message id, the only way the memory persistence removes one).
 */
export function countMemoryQueues(persistence: OutgoingQueues): QueueLength {
  const counts = new Map<string, number>()
  const add = (clientId: string, delta: number) => {
    const next = (counts.get(clientId) ?? 0) + delta
    if (next > 0) counts.set(clientId, next)
    else counts.delete(clientId)
  }
  const enqueue = persistence.outgoingEnqueue.bind(persistence)
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence)
  const clear = persistence.outgoingClearMessageId.bind(persistence)
  persistence.outgoingEnqueue = async (sub, packet) => {
    await enqueue(sub, packet)
    add(sub.clientId, 1)
  }
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    await enqueueCombi(subs, packet)
    for (const sub of subs) add(sub.clientId, 1)
  }
  persistence.outgoingClearMessageId = async (client, packet) => {
    const removed = await clear(client, packet)
    if (removed) add(client.id, -1)
    return removed
  }
  return async (clientIds) => clientIds.map((id) => counts.get(id) ?? 0)
}

/**
 * Queue lengths for aedes-persistence-redis, which keeps each session's
 * queue as a list `outgoing:<client id>` (under the connection's key
 * prefix): one pipelined LLEN per publish, whatever the number of sessions.
 */
export function redisQueueLengths(sessions: Redis): QueueLength {
  return async (clientIds) => {
    const pipeline = sessions.pipeline()
    for (const id of clientIds) pipeline.llen(`outgoing:${encodeURIComponent(id)}`)
    const results = (await pipeline.exec()) ?? []
    return results.map(([err, length]) => {
      if (err) throw err
      return Number(length)
    })
  }
}
