import { once } from 'node:events'
import { connect as tcpConnect } from 'node:net'
import type { Duplex } from 'node:stream'
import WebSocket, { createWebSocketStream } from 'ws'
import mqttPacket, { type Packet } from 'mqtt-packet'

/** A raw connection to the broker (TCP, or a WebSocket's byte stream), recording what the server answers. */
export interface RawConnection {
  socket: Duplex
  /** Packets the server sent, parsed as MQTT 3.1.1. */
  answers: Packet[]
  /** Bytes the server sent that did not parse (none expected). */
  garbage: boolean
  closed: Promise<void>
  isClosed(): boolean
  send(bytes: Buffer): void
  /** Resolves true once the server has closed the connection, false if it is still open after `ms`. */
  closedWithin(ms: number): Promise<boolean>
  /** Resolves with the first answer of `cmd` (or undefined if the connection closes or `ms` pass first). */
  answer(cmd: Packet['cmd'], ms: number): Promise<Packet | undefined>
}

const openSockets = new Set<Duplex>()

/** Resolves with `promise`'s value, or with `fallback` after `ms` (the timer is cleared either way). */
export function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<T>((resolve) => { timer = setTimeout(() => resolve(fallback), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Opens a raw connection: TCP to `target` (a port on 127.0.0.1), or WebSocket (subprotocol mqtt) to `target` (a ws:// URL). */
export async function rawConnect(target: number | string): Promise<RawConnection> {
  const ws = typeof target === 'string' ? new WebSocket(target, 'mqtt') : undefined
  const socket: Duplex = ws ? createWebSocketStream(ws) : tcpConnect(target as number, '127.0.0.1')
  socket.on('error', () => {})
  ws?.on('error', () => {})
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const answers: Packet[] = []
  let closed = false
  const conn: RawConnection = {
    socket, answers, garbage: false,
    closed: new Promise<void>((resolve) => socket.once('close', () => { closed = true; resolve() })),
    isClosed: () => closed,
    send: (bytes) => { if (!closed) socket.write(bytes) },
    closedWithin: (ms) => within(conn.closed.then(() => true), ms, false),
    answer: (cmd, ms) => new Promise((resolve) => {
      const seen = () => answers.find((p) => p.cmd === cmd)
      const poll = setInterval(() => { if (seen() || closed) done() }, 5)
      const timer = setTimeout(() => done(), ms)
      function done() { clearInterval(poll); clearTimeout(timer); resolve(seen()) }
    }),
  }
  parser.on('packet', (packet) => answers.push(packet))
  parser.on('error', () => { conn.garbage = true })
  socket.on('data', (chunk) => parser.parse(chunk))
  await once(ws ?? socket, ws ? 'open' : 'connect')
  openSockets.add(socket)
  return conn
}

/** Destroys every raw connection still open (call from a teardown). */
export function destroyRawConnections(): void {
  for (const socket of openSockets) socket.destroy()
  openSockets.clear()
}

/** Encodes `packet` with mqtt-packet (MQTT 3.1.1 unless the packet says otherwise). */
export const encode = (packet: Packet, protocolVersion = 4): Buffer => mqttPacket.generate(packet, { protocolVersion })

/** A valid MQTT 3.1.1 CONNECT carrying `token` as password. */
export const connectPacket = (token: string, clientId: string, keepalive = 30): Buffer =>
  encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive, username: '', password: Buffer.from(token) })

/** A raw connection whose valid CONNECT (with `token`) was accepted; throws if it was not. */
export async function rawAuthenticated(port: number, token: string, clientId: string, keepalive = 30): Promise<RawConnection> {
  const conn = await rawConnect(port)
  conn.send(connectPacket(token, clientId, keepalive))
  const connack = await conn.answer('connack', 10_000) as { returnCode?: number } | undefined
  if (connack?.returnCode !== 0) throw new Error(`CONNECT not accepted: ${JSON.stringify(connack)}`)
  return conn
}

/** PINGREQ: a marker that the server has read everything sent before it. */
export const PINGREQ = Buffer.from([0xc0, 0x00])

/** The MQTT variable-length "remaining length" of `n` bytes. */
export function varint(n: number): Buffer {
  const bytes: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    bytes.push(byte)
  } while (n > 0)
  return Buffer.from(bytes)
}
/** An MQTT string: two bytes of length, then the bytes. */
export const str = (b: Buffer | string) => { const buf = Buffer.from(b); return Buffer.concat([Buffer.from([buf.length >> 8, buf.length & 0xff]), buf]) }
/** A packet of `type` (the whole first byte) around `parts`. */
export const packet = (type: number, ...parts: Buffer[]) => { const body = Buffer.concat(parts); return Buffer.concat([Buffer.from([type]), varint(body.length), body]) }

/** A CONNECT built by hand, to get wrong what mqtt-packet would refuse to encode. */
export function rawConnectPacket(o: { name?: string; level?: number; flags?: number; clientId?: Buffer; username?: string; password?: string }): Buffer {
  const flags = o.flags ?? ((o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0) | 0x02)
  return packet(0x10, str(o.name ?? 'MQTT'), Buffer.from([o.level ?? 4, flags, 0, 30]), str(o.clientId ?? 'raw'),
    ...(o.username !== undefined ? [str(o.username)] : []), ...(o.password !== undefined ? [str(o.password)] : []))
}
/** A QoS 1 PUBLISH with the topic given as raw bytes. */
export const rawPublish = (topic: Buffer, payload: string, messageId = 7) => packet(0x32, str(topic), Buffer.from([messageId >> 8, messageId & 0xff]), Buffer.from(payload))
