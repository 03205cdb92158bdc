import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net'
import { listen } from '../shared/listen.ts'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Aedes } from 'aedes'

/** The MQTT listeners of one node and the ports they bound. */
export interface MqttListeners {
  mqttPort: number
  wsPort: number
  close(): Promise<void>
}

function closeServer(server: TcpServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

/**
 * Serves MQTT over TCP and over WebSocket (`wsPath`, subprotocol `mqtt`).
 * TCP sockets get TCP_NODELAY: MQTT's small packets must not wait on Nagle.
 */
export async function startMqttListeners(broker: Aedes, opts: { host: string; mqttPort: number; wsPort: number; wsPath: string }): Promise<MqttListeners> {
  const tcp = createTcpServer({ noDelay: true }, (socket) => broker.handle(socket))
  const http = createHttpServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'))
  const wss = new WebSocketServer({
    server: http,
    path: opts.wsPath,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
  })
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws)
    stream.on('error', () => ws.terminate())
    broker.handle(stream, req)
  })
  const mqttPort = await listen(tcp, opts.mqttPort, opts.host, 'MQTT_PORT')
  const wsPort = await listen(http, opts.wsPort, opts.host, 'WS_PORT')
  return {
    mqttPort,
    wsPort,
    async close() {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
      await Promise.all([closeServer(tcp), closeServer(http)])
    },
  }
}
