import { Writable } from 'node:stream'

const plainWrite = Writable.prototype.write

/**
 * Sends what a connection is written in one turn of the event loop as one
 * system call. mqtt-packet corks a stream for each packet and uncorks it on
 * the next tick, but Aedes writes a batch's deliveries and PUBACKs from
 * separate ticks (its publish pipeline steps through callbacks), so each
 * packet went out in a `writev` of its own: two per chat message in
 * scenario 1 of the bench, one packet per TCP segment, and on loopback the
 * kernel's cost of each send paid on this process's core.
 *
 * A connection's first write in a turn corks it once more; `setImmediate`
 * uncorks every such connection after the turn's I/O callbacks, ticks and
 * promise reactions have run, so the delay added is that turn's remaining
 * work, never a timer. `end()` uncorks by itself, so a last packet before a
 * close is not held back.
 */
export class WriteCoalescer {
  readonly #held = new Set<Writable>()
  #flushScheduled = false
  readonly #flush = (): void => {
    this.#flushScheduled = false
    const held = [...this.#held]
    this.#held.clear()
    for (const stream of held) stream.uncork()
  }

  /** One write function for every connection (a closure per connection would cost each its memory). */
  readonly #write: Writable['write']

  constructor() {
    const hold = (stream: Writable) => this.#hold(stream)
    this.#write = function coalescedWrite(this: Writable, ...args: Parameters<Writable['write']>): boolean {
      hold(this)
      return (plainWrite as (...a: unknown[]) => boolean).apply(this, args)
    } as Writable['write']
  }

  /** Makes `stream`'s writes wait for the end of the turn they were made in. */
  coalesce<S extends Writable>(stream: S): S {
    stream.write = this.#write
    return stream
  }

  #hold(stream: Writable): void {
    if (this.#held.has(stream) || stream.destroyed) return
    this.#held.add(stream)
    stream.cork()
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(this.#flush)
  }
}
