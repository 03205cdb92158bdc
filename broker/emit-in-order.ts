import type { Aedes } from 'aedes'
import type { Logger } from '../shared/logger.ts'

type Counted = { brokerId?: string; brokerCounter?: number }
type EmitDone = (err?: Error) => void
type PublishDone = (err?: Error | null) => void

/** The parts of Aedes 1.2 this guard reaches into (none is in its typings). */
interface AedesInternals {
  id: string
  /** The last broker counter handed out; `new Packet(packet, broker)` increments it (aedes-packet). */
  counter: number
  mq: { emit(packet: Counted, done?: EmitDone): unknown }
  publish(packet: Counted, client?: unknown, done?: PublishDone): void
}

/** The longest the oldest publish may hold back the ones after it before they go out regardless. */
export const EMIT_STALL_MS = 2000

/**
 * Makes this node emit its publishes in the order of their broker counters.
 *
 * Aedes numbers a publish when it starts (`broker.counter`, stamped on the
 * packet as `brokerCounter`) and delivers a packet to a client only if its
 * number is above the last one that client got from the same node
 * (lib/client.js, `dedupe`). But a QoS 1 publish is emitted only after it
 * is written to the queue of every persistent session of its topic
 * (`enqueueOffline` before `emitPacket`), which with the Redis persistence
 * takes one round trip per session, while a QoS 0 publish is emitted at
 * once. So a message of a room with more persistent subscribers was
 * overtaken by a later one (a message of a quieter room, a typing signal)
 * and a client subscribed to both silently lost it (aedes issue #955).
 *
 * Every publish is noted when it starts; a packet reaching the router
 * ahead of an older publish of this node waits until that one is emitted
 * or fails. Packets of other nodes pass straight through: each node orders
 * its own. Publishes that neither emit nor fail within {@link EMIT_STALL_MS}
 * (Redis gone quiet) stop holding the others back, so stuck writes cannot
 * stop every delivery; one that is routed after all is logged, as clients
 * that got later packets drop it.
 */
export function emitInCounterOrder(aedes: Aedes, log: Logger, stallMs = EMIT_STALL_MS): void {
  const broker = aedes as unknown as AedesInternals
  const emit = broker.mq.emit.bind(broker.mq)
  const publish = broker.publish.bind(broker)
  /** Publishes of this node not yet emitted, oldest first: the held packet, or null while it is still on its way. */
  const waiting = new Map<number, { packet: Counted; done: EmitDone | undefined } | null>()

  const flush = () => {
    for (const [counter, held] of waiting) {
      if (held === null) return
      waiting.delete(counter)
      emit(held.packet, held.done)
    }
  }

  broker.publish = (packet, client, done) => {
    if (typeof client === 'function') return broker.publish(packet, null, client as PublishDone)
    // A packet that already has its number (one replayed from a store) is not numbered again.
    if (packet.brokerCounter) return publish(packet, client, done)
    const counter = broker.counter + 1
    waiting.set(counter, null)
    let threw = true
    try {
      publish(packet, client, (err) => {
        // Finished without being emitted (refused, or its queue write failed): it no longer holds the others back.
        if (waiting.delete(counter)) flush()
        done?.(err)
      })
      threw = false
    } finally {
      // Threw: nothing of it will reach the router. (One refused before it was numbered has called back, and
      // its number is the next publish's anyway.)
      if (threw && waiting.delete(counter)) flush()
    }
  }

  /** Counters given up on by the watchdog, so that one routed late is reported (bounded: cleared when large). */
  const givenUp = new Set<number>()
  broker.mq.emit = (packet, done) => {
    if (packet.brokerId !== broker.id) return emit(packet, done)
    if (!waiting.has(packet.brokerCounter!)) {
      if (givenUp.delete(packet.brokerCounter!)) log.warn({ brokerCounter: packet.brokerCounter, topic: (packet as { topic?: string }).topic }, 'a publish given up on was routed late; clients that got later packets drop it')
      return emit(packet, done)
    }
    waiting.set(packet.brokerCounter!, { packet, done })
    flush()
  }

  // Every half stall time, publishes already on their way at the previous tick (so between half and a whole
  // stall time old) and still not routed stop holding the others back, all of them at once.
  let cutoff = broker.counter
  const watchdog = setInterval(() => {
    let stuck = 0
    for (const [counter, held] of waiting) {
      if (counter > cutoff) break
      if (held !== null) continue
      waiting.delete(counter)
      if (givenUp.size > 10_000) givenUp.clear()
      givenUp.add(counter)
      stuck++
    }
    if (stuck > 0) {
      log.warn({ stuck, held: waiting.size, stallMs }, 'publishes were not routed in time; the ones after them go out regardless')
      flush()
    }
    cutoff = broker.counter
  }, stallMs / 2).unref()
  aedes.once('closed', () => clearInterval(watchdog))
}
