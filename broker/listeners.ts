import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { createServer as createTlsServer, Server as TlsServer } from 'node:tls'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Aedes } from 'aedes'
import { listen } from '../shared/listen.ts'
import type { Logger } from '../shared/logger.ts'
import { ConnectionGate } from './connection-gate.ts'
import { guardedConnection, guardParser } from './packet-size-guard.ts'
import { WriteCoalescer } from './write-coalescer.ts'

/** The MQTT listeners of one node and the ports they bound (TLS ports are null when TLS is off). */
export interface MqttListeners {
  mqttPort: number
  wsPort: number
  mqttsPort: number | null
  wssPort: number | null
  /** Stops accepting connections; resolves once every listener's connections have gone (close the broker meanwhile). */
  close(): Promise<void>
}

/** Where to listen, and the limits every connection is held to. */
export interface ListenerOptions {
  host: string
  mqttPort: number
  wsPort: number
  wsPath: string
  maxPacketBytes: number
  /** New connections a second allowed from one IP address. */
  connectionsPerIpPerSecond: number
  /** Time allowed for a TLS handshake, and for a WebSocket's HTTP upgrade, before MQTT's own CONNECT time starts. */
  connectTimeoutMs: number
  /** Silence after which TCP keepalive probes a connection (see `MQTT_TCP_KEEPALIVE_MS`). */
  tcpKeepAliveMs: number
  /** Certificate and key (PEM files) for MQTT over TLS on `mqttsPort` and WebSocket over TLS on `wssPort`. */
  tls?: { certFile: string; keyFile: string; mqttsPort: number; wssPort: number } | undefined
}

const closed = (server: TcpServer | HttpServer) => new Promise<void>((resolve) => server.close(() => resolve()))

/**
 * Serves MQTT over TCP and WebSocket (`wsPath`, subprotocol `mqtt`), and over
 * TLS and secure WebSocket when a certificate is configured. Every socket
 * gets TCP_NODELAY (MQTT's small packets must not wait on Nagle) and TCP
 * keepalive (MQTT's own keepalive may be 0: no other check), passes the
 * per-IP connection gate, and goes through the packet-size guard and the
 * write coalescer (a turn's packets leave in one system call); WebSocket
 * frames are capped at the same size (plus the largest fixed header) by `ws`.
 * Before Aedes starts its CONNECT timer, a TLS handshake and a WebSocket
 * upgrade each get `connectTimeoutMs` too, so no listener holds a silent
 * socket for longer.
 */
export async function startMqttListeners(broker: Aedes, opts: ListenerOptions, log: Logger): Promise<MqttListeners> {
  const gate = new ConnectionGate(opts.connectionsPerIpPerSecond)
  // Every raw socket (TCP, TLS, WebSocket and secure WebSocket) comes through here before anything is read.
  const admitted = (socket: Socket) => {
    socket.setNoDelay(true)
    // libuv then probes once a second, ten times: a peer gone without a FIN or RST is closed (and goes offline) within tcpKeepAliveMs + 10 s.
    socket.setKeepAlive(true, opts.tcpKeepAliveMs)
    if (gate.admit(socket.remoteAddress)) return true
    log.info({ remoteAddress: socket.remoteAddress }, 'connection refused: over CONNECTIONS_PER_IP_PER_SECOND')
    socket.destroy()
    return false
  }
  const coalescer = new WriteCoalescer()
  const handle = (socket: Duplex) => guardParser(broker.handle(coalescer.coalesce(socket)), socket, opts.maxPacketBytes)
  const handleWebSocket = (stream: Duplex, req: IncomingMessage) => broker.handle(coalescer.coalesce(guardedConnection(stream, opts.maxPacketBytes)), req)
  const onSocket = (socket: Socket) => {
    if (admitted(socket)) handle(socket)
  }
  const tcp = createTcpServer({ noDelay: true }, onSocket)
  const ws = webSocketServer(opts, handleWebSocket, admitted, createHttpServer())
  const servers: Array<TcpServer | HttpServer> = [tcp, ws.server]
  const ports = {
    mqttPort: await listen(tcp, opts.mqttPort, opts.host, 'MQTT_PORT'),
    wsPort: await listen(ws.server, opts.wsPort, opts.host, 'WS_PORT'),
    mqttsPort: null as number | null,
    wssPort: null as number | null,
  }
  const sockets: WebSocketServer[] = [ws.wss]
  if (opts.tls) {
    const credentials = { cert: readFileSync(opts.tls.certFile), key: readFileSync(opts.tls.keyFile) }
    const tls = createTlsServer({ ...credentials, handshakeTimeout: opts.connectTimeoutMs }, (socket) => handle(socket))
    closeOnTlsError(tls, log)
    // Gate the raw socket, before the handshake's work is spent on it.
    tls.on('connection', (socket: Socket) => admitted(socket))
    const https = createHttpsServer({ ...credentials, handshakeTimeout: opts.connectTimeoutMs })
    closeOnTlsError(https, log)
    const wss = webSocketServer(opts, handleWebSocket, admitted, https)
    servers.push(tls, wss.server)
    sockets.push(wss.wss)
    ports.mqttsPort = await listen(tls, opts.tls.mqttsPort, opts.host, 'MQTTS_PORT')
    ports.wssPort = await listen(wss.server, opts.tls.wssPort, opts.host, 'WSS_PORT')
  }
  return {
    ...ports,
    async close() {
      const done = Promise.all(servers.map(closed))
      for (const wss of sockets) wss.close()
      for (const server of servers) if ('closeIdleConnections' in server) server.closeIdleConnections()
      await done
    },
  }
}

/**
 * A failed or timed-out handshake is reported on the server, not the
 * socket, and Node leaves the socket open once anyone listens for it.
 */
function closeOnTlsError(server: TlsServer, log: Logger): void {
  server.on('tlsClientError', (err: Error & { code?: string }, socket: Duplex) => {
    log.debug({ code: err.code, err: err.message }, 'tls handshake failed')
    socket.destroy()
  })
}

/** MQTT over WebSocket on an HTTP(S) server; plain HTTP requests get 426. */
function webSocketServer(opts: ListenerOptions, handle: (stream: Duplex, req: IncomingMessage) => void, admitted: (socket: Socket) => boolean, server: HttpServer) {
  server.on('request', (_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'))
  server.on('connection', (socket: Socket) => admitted(socket))
  // From the HTTP request's first byte (after the handshake, with TLS) to the upgrade; then Aedes's CONNECT timer runs.
  const upgradeDeadlines = new WeakMap<Duplex, NodeJS.Timeout>()
  server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', (socket: Duplex) => {
    const timer = setTimeout(() => socket.destroy(), opts.connectTimeoutMs)
    upgradeDeadlines.set(socket, timer)
    socket.once('close', () => clearTimeout(timer))
  })
  const wss = new WebSocketServer({
    server,
    path: opts.wsPath,
    maxPayload: opts.maxPacketBytes + 5,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
  })
  wss.on('connection', (socket, req) => {
    clearTimeout(upgradeDeadlines.get(req.socket))
    const stream = createWebSocketStream(socket)
    stream.on('error', () => socket.terminate())
    handle(stream, req)
  })
  return { server, wss }
}
