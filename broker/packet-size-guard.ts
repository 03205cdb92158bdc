import { Duplex } from 'node:stream'

/** Raised (and the connection destroyed) when a client announces a packet over the limit. */
export class PacketTooLargeError extends Error {
  override readonly name = 'PacketTooLargeError'
}

/**
 * Follows the packet boundaries of an MQTT byte stream by reading each
 * packet's fixed header (MQTT 3.1.1 section 2.2: one type byte, then the
 * remaining length in 1-4 bytes of 7 bits each) and skipping its body.
 */
export class PacketHeaderReader {
  readonly #maxBytes: number
  #state: 'type' | 'length' | 'body' = 'type'
  #length = 0
  #multiplier = 1
  #remaining = 0

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** Reads `chunk`; returns an error as soon as a packet announces more than the limit. */
  check(chunk: Buffer): PacketTooLargeError | undefined {
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
        if (this.#length > this.#maxBytes) return new PacketTooLargeError(`packet over ${this.#maxBytes} bytes announced`)
        if (byte & 0x80) {
          if (this.#multiplier > 128 ** 3) return new PacketTooLargeError('remaining length longer than 4 bytes')
          continue
        }
        this.#remaining = this.#length
        this.#state = this.#remaining > 0 ? 'body' : 'type'
      }
    }
    return undefined
  }
}

/** The part of an Aedes 1.2 client this guard reaches into (not in its typings). */
interface ParsingClient {
  _parser: { parse(buf: Buffer): unknown }
}

/**
 * Holds a TCP or TLS connection to `maxBytes` per packet without a stream
 * of its own: Aedes reads its connection with `read()` and hands each buffer
 * to its mqtt-packet parser (lib/client.js, `nextBatch`), so the header
 * check runs on every buffer before the parser sees it, and a packet over
 * the limit destroys the socket before its body is buffered (Aedes sets no
 * maximum of its own). A second stream around every socket cost each
 * connection its memory and each packet a hop.
 */
export function guardParser(client: unknown, socket: Duplex, maxBytes: number): void {
  const parser = (client as ParsingClient)._parser
  const parse = Object.getPrototypeOf(parser).parse as ParsingClient['_parser']['parse']
  const header = new PacketHeaderReader(maxBytes)
  parser.parse = (buf) => {
    const tooLarge = header.check(buf)
    if (tooLarge) return socket.destroy(tooLarge)
    return parse.call(parser, buf)
  }
}

/**
 * A WebSocket connection as Aedes handles it: bytes from `socket` are checked by a
 * {@link PacketHeaderReader} before Aedes may read them, so a packet over
 * the limit destroys the socket before its body is buffered (Aedes sets no
 * maximum of its own). Writes go to `socket`; a corked burst (mqtt-packet
 * corks each packet, the write coalescer a turn's packets) is written as
 * one WebSocket frame, never a packet split over frames.
 */
export class GuardedConnection extends Duplex {
  readonly #socket: Duplex
  /** The peer's address, as the wrapped socket has it (TCP and TLS; undefined for a WebSocket stream). */
  readonly remoteAddress: string | undefined

  constructor(socket: Duplex, maxBytes: number) {
    super({ allowHalfOpen: false })
    this.#socket = socket
    this.remoteAddress = (socket as { remoteAddress?: string }).remoteAddress
    const header = new PacketHeaderReader(maxBytes)
    socket.on('data', (chunk: Buffer) => {
      const tooLarge = header.check(chunk)
      if (tooLarge) return this.destroy(tooLarge)
      if (!this.push(chunk)) socket.pause()
    })
    socket.on('end', () => this.push(null))
    socket.on('error', (err) => this.destroy(err))
    socket.on('close', () => this.destroy())
  }

  override _read(): void {
    this.#socket.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk, callback)
  }

  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    // One write per corked burst: mqtt-packet writes a packet in several chunks, and a WebSocket stream
    // sends each write as a frame of its own (over TLS, a record of its own too).
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk))
    this.#send(data, callback)
  }

  #send(data: Buffer, callback: (error?: Error | null) => void): void {
    if (this.#socket.write(data)) callback()
    else this.#socket.once('drain', () => callback())
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#socket.end(callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy()
    callback(error)
  }
}

/** Wraps `socket` in a {@link GuardedConnection} limited to `maxBytes` per packet. */
export function guardedConnection(socket: Duplex, maxBytes: number): Duplex {
  return new GuardedConnection(socket, maxBytes)
}
