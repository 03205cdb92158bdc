import { Duplex, Transform, type TransformCallback } from 'node:stream'

/** Raised (and the connection destroyed) when a client announces a packet over the limit. */
export class PacketTooLargeError extends Error {
  override readonly name = 'PacketTooLargeError'
}

/**
 * Passes MQTT bytes through unchanged while reading each packet's fixed
 * header (MQTT 3.1.1 section 2.2: one type byte, then the remaining length in
 * 1-4 bytes of 7 bits each). A packet announcing more than `maxBytes` fails
 * the stream before its body is read, so Aedes (which sets no maximum) never
 * buffers it: a client announcing 200 MB costs a few bytes of memory.
 */
export class PacketSizeGuard extends Transform {
  readonly #maxBytes: number
  #state: 'type' | 'length' | 'body' = 'type'
  #length = 0
  #multiplier = 1
  #remaining = 0

  constructor(maxBytes: number) {
    super()
    this.#maxBytes = maxBytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let i = 0
    while (i < chunk.length) {
      if (this.#state === 'body') {
        const skip = Math.min(this.#remaining, chunk.length - i)
        this.#remaining -= skip
        i += skip
        if (this.#remaining === 0) this.#state = 'type'
      } else if (this.#state === 'type') {
        this.#state = 'length'
        this.#length = 0
        this.#multiplier = 1
        i++
      } else {
        const byte = chunk[i++]!
        this.#length += (byte & 0x7f) * this.#multiplier
        this.#multiplier *= 128
        if (this.#length > this.#maxBytes) return callback(new PacketTooLargeError(`packet over ${this.#maxBytes} bytes announced`))
        if (byte & 0x80) {
          if (this.#multiplier > 128 ** 3) return callback(new PacketTooLargeError('remaining length longer than 4 bytes'))
          continue
        }
        this.#remaining = this.#length
        this.#state = this.#remaining > 0 ? 'body' : 'type'
      }
    }
    callback(null, chunk)
  }
}

/**
 * The connection Aedes should handle: reads pass through a
 * {@link PacketSizeGuard}, writes go straight to `socket`. When the guard
 * trips, the socket is destroyed.
 */
export function guardedConnection(socket: Duplex, maxBytes: number): Duplex {
  const guard = new PacketSizeGuard(maxBytes)
  guard.on('error', () => socket.destroy())
  socket.on('error', () => guard.destroy())
  return Duplex.from({ readable: socket.pipe(guard), writable: socket })
}
