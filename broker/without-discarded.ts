import { DISCARD_TOPIC } from './hooks/authorize-publish.ts'

/** What Aedes routes publishes through (its `mq` option): here, only its `emit` matters. */
interface Routing {
  emit(packet: { topic: string }, cb?: (err?: Error) => void): void
}

/**
 * Drops publishes to {@link DISCARD_TOPIC} before they are routed: every
 * client publish ends there once the message path has handled it, and
 * sending them on (to Redis, in a cluster) would be pure waste.
 */
export function withoutDiscarded<T extends Routing>(mq: T): T {
  const emit = mq.emit.bind(mq)
  mq.emit = (packet, cb) => (packet.topic === DISCARD_TOPIC ? cb?.() : emit(packet, cb))
  return mq
}
