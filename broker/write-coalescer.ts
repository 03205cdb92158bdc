import { Writable } from 'node:stream'

const plainWrite = Writable.prototype.write
const plainDestroy = Writable.prototype.destroy

/**
 * Sends what a connection is written in one turn of the event loop as one
 * system call. mqtt-packet corks a stream for each packet and uncorks it on
 * the next tick, but Aedes writes a batch's deliveries and PUBACKs from
 * separate ticks (its publish pipeline steps through callbacks), so each
 * packet went out in a `writev` of its own: two per chat message in
 * scenario 1 of the bench, one packet per TCP segment, and on loopback the
 * kernel's cost of each send paid on this process's core.
 *
 * A connection's first write in a turn corks it once more; one
 * `setImmediate` uncorks every such connection. No timer is involved: a
 * write made in an I/O callback, tick or promise reaction goes out when
 * that turn's immediates run; a write made from an immediate (Aedes writes
 * each delivery from one) goes out at the next turn's, after that turn's
 * I/O callbacks. `end()` uncorks by itself, and `destroy()` (how Aedes
 * closes a client) sends what is held first, so a last packet before a
 * close is not dropped. A send that throws closes its own connection with
 * the error and holds up no other.
 *
 * While corked, a write returns false once a turn's data for a connection
 * passes the stream's high-water mark, so Aedes waits for its `drain`,
 * which comes with the flush.
 */
export class WriteCoalescer {
  readonly #held = new Set<Writable>()
  #flushScheduled = false
  readonly #flush = (): void => {
    this.#flushScheduled = false
    for (const stream of this.#held) {
      try {
        this.#release(stream)
      } catch (err) {
        // A throw here would be uncaught (this runs from setImmediate) and end the process: it ends
        // only its own connection, through the stream's 'error' (Aedes drops the client), and the rest go out.
        stream.destroy(err instanceof Error ? err : new Error(String(err)))
      }
    }
  }

  /** One write and one destroy function for every connection (a closure per connection would cost each its memory). */
  readonly #write: Writable['write']
  readonly #destroy: Writable['destroy']

  constructor() {
    const hold = (stream: Writable) => this.#hold(stream)
    const release = (stream: Writable) => this.#release(stream)
    this.#write = function coalescedWrite(this: Writable, ...args: Parameters<Writable['write']>): boolean {
      hold(this)
      return (plainWrite as (...a: unknown[]) => boolean).apply(this, args)
    } as Writable['write']
    this.#destroy = function coalescedDestroy(this: Writable, error?: Error): Writable {
      let sendFailed: Error | undefined
      try {
        release(this)
      } catch (err) {
        sendFailed = err instanceof Error ? err : new Error(String(err))
      }
      return plainDestroy.call(this, error ?? sendFailed)
    }
  }

  /** Makes `stream`'s writes wait for the end of the turn they were made in. */
  coalesce<S extends Writable>(stream: S): S {
    const coalesced = stream as Writable
    coalesced.write = this.#write
    coalesced.destroy = this.#destroy
    return stream
  }

  #hold(stream: Writable): void {
    if (this.#held.has(stream) || stream.destroyed) return
    this.#held.add(stream)
    stream.cork()
    this.#scheduleFlush()
  }

  /**
   * Sends what `stream` holds now, if it holds anything. Fully uncorked:
   * before a destroy in the same turn, mqtt-packet's own cork may not have
   * been undone yet (its uncork waits for the next tick).
   */
  #release(stream: Writable): void {
    if (!this.#held.delete(stream)) return
    while (stream.writableCorked > 0) stream.uncork()
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(this.#flush)
  }
}
