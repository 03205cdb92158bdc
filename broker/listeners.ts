import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Aedes } from 'aedes'
import { listen } from '../shared/listen.ts'
import { guardedConnection } from './packet-size-guard.ts'

/** The MQTT listeners of one node and the ports they bound. */
export interface MqttListeners {
  mqttPort: number
  wsPort: number
  /** Stops accepting connections; resolves once every listener's connections have gone (close the broker meanwhile). */
  close(): Promise<void>
}

/** Where to listen, and the largest MQTT packet a client may send. */
export interface ListenerOptions {
  host: string
  mqttPort: number
  wsPort: number
  wsPath: string
  maxPacketBytes: number
}

const closed = (server: TcpServer | HttpServer) => new Promise<void>((resolve) => server.close(() => resolve()))

/**
 * Serves MQTT over TCP and over WebSocket (`wsPath`, subprotocol `mqtt`).
 * TCP sockets get TCP_NODELAY: MQTT's small packets must not wait on Nagle.
 * Both transports pass through the packet-size guard; WebSocket frames are
 * capped at the same size (plus the largest fixed header) by `ws` itself.
 */
export async function startMqttListeners(broker: Aedes, opts: ListenerOptions): Promise<MqttListeners> {
  const tcp = createTcpServer({ noDelay: true }, (socket) => broker.handle(guardedConnection(socket, opts.maxPacketBytes)))
  const http = createHttpServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'))
  const wss = new WebSocketServer({
    server: http,
    path: opts.wsPath,
    maxPayload: opts.maxPacketBytes + 5,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
  })
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws)
    stream.on('error', () => ws.terminate())
    broker.handle(guardedConnection(stream, opts.maxPacketBytes), req)
  })
  const mqttPort = await listen(tcp, opts.mqttPort, opts.host, 'MQTT_PORT')
  const wsPort = await listen(http, opts.wsPort, opts.host, 'WS_PORT')
  return {
    mqttPort,
    wsPort,
    async close() {
      const done = Promise.all([closed(tcp), closed(http)])
      wss.close()
      http.closeIdleConnections()
      await done
    },
  }
}
