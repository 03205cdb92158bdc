import type { Config } from './shared/config.ts'
import type { Logger } from './shared/logger.ts'
import { openDatabase, type DatabaseHandle } from './shared/db/database.ts'
import { migrateToLatest } from './shared/db/migrate.ts'
import { createServices, type Services } from './shared/services.ts'
import type { Realtime } from './shared/realtime.ts'
import type { Redis } from 'ioredis'
import { createChatBroker, type ChatBroker } from './broker/create-broker.ts'
import { startMqttListeners } from './broker/listeners.ts'
import { createApi, routesOf, startHttp } from './api/create-api.ts'
import { startMetricsServer } from './api/metrics-server.ts'
import { createMetrics, type Metrics } from './shared/metrics.ts'
import { Readiness } from './shared/readiness.ts'

/** A running node: the ports it bound, its services, and how to stop it. */
export interface Mqchat {
  ports: { mqtt: number; ws: number; http: number; mqtts: number | null; wss: number | null; metrics: number | null }
  services: Services
  /** This node's Prometheus registry and instruments (README, Operations). */
  metrics: Metrics
  readiness: Readiness
  database: DatabaseHandle
  broker: ChatBroker
  /** Every REST route served, as `METHOD /path` (checked against the OpenAPI document). */
  httpRoutes: string[]
  close(): Promise<void>
}

/**
 * The composition root: opens and migrates the database, builds the shared
 * services, and wires the MQTT adapter (`broker/`) and the HTTP adapter
 * (`api/`) to them. The two adapters never see each other; the HTTP path's
 * fan-out reaches the broker through the `MessageFanout` port wired here.
 */
export async function startMqchat(config: Config, log: Logger): Promise<Mqchat> {
  const database = await openDatabase(config, log)
  const metrics = createMetrics()
  const migrations = await migrateToLatest(database.db)
  let broker: ChatBroker | undefined
  // The services need the broker's realtime port and the broker needs the services' hooks: the port is bound once the broker exists.
  const realtime = new Proxy({} as Realtime, { get: (_, method: keyof Realtime) => (...args: unknown[]) => (broker!.realtime[method] as (...a: unknown[]) => void)(...args) })
  const redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX) : undefined
  redis?.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection error'))
  const services = await createServices(database.db, config, log, realtime, redis)
  services.writer.observer = metrics.writer
  metrics.sources.writerPending = () => services.writer.pending
  services.push.observer = metrics.push
  const readiness = new Readiness({ db: database.db, redis, timeoutMs: config.READYZ_TIMEOUT_MS })
  const brokerLimits = { connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS, drainTimeoutMs: config.MQTT_DRAIN_TIMEOUT_MS, maxSubscriptions: config.MQTT_MAX_SUBSCRIPTIONS, offlineQueueMax: config.MQTT_OFFLINE_QUEUE_MAX }
  broker = await createChatBroker(services, log, brokerLimits, config.REDIS_URL ? { url: config.REDIS_URL, keyPrefix: config.REDIS_KEY_PREFIX } : undefined, metrics)
  await broker.onClusterNote((note) => services.applyClusterNote(note))
  const listeners = await startMqttListeners(broker.aedes, {
    host: config.HOST, mqttPort: config.MQTT_PORT, wsPort: config.WS_PORT, wsPath: config.WS_PATH, maxPacketBytes: config.MQTT_MAX_PACKET_BYTES,
    connectionsPerIpPerSecond: config.CONNECTIONS_PER_IP_PER_SECOND, connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
    tcpKeepAliveMs: config.MQTT_TCP_KEEPALIVE_MS,
    tls: config.TLS_CERT_FILE && config.TLS_KEY_FILE
      ? { certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE, mqttsPort: config.MQTTS_PORT, wssPort: config.WSS_PORT }
      : undefined,
  }, log)
  const api = createApi({ services, log, jsonLimit: `${config.HTTP_BODY_MAX_BYTES}b`, pageMax: config.HISTORY_PAGE_MAX, syncRoomMax: config.SYNC_ROOM_MAX },
    { readiness, metrics, apiMetricsToken: config.METRICS_PORT === undefined ? config.METRICS_TOKEN : undefined },
    { wsPort: listeners.wsPort, wsPath: config.WS_PATH, wssPort: listeners.wssPort })
  const http = await startHttp(api, config.HOST, config.HTTP_PORT)
  const metricsHttp = config.METRICS_PORT === undefined ? undefined
    : await startMetricsServer(metrics, { host: config.METRICS_HOST, port: config.METRICS_PORT, token: config.METRICS_TOKEN })
  const ports = { mqtt: listeners.mqttPort, ws: listeners.wsPort, http: http.port, mqtts: listeners.mqttsPort, wss: listeners.wssPort, metrics: metricsHttp?.port ?? null }

  log.info({
    ports,
    wsPath: config.WS_PATH,
    database: database.kind === 'pglite' ? `embedded Postgres (PGlite) at ${database.location}` : `Postgres at ${database.location}`,
    migrationsApplied: migrations.results?.map((r) => r.migrationName) ?? [],
    brokerState: config.REDIS_URL ? `Redis at ${new URL(config.REDIS_URL).host} (prefix ${config.REDIS_KEY_PREFIX}): clustered` : 'in memory (single node)',
  }, `mqchat listening: mqtt://${config.HOST}:${ports.mqtt} ws://${config.HOST}:${ports.ws}${config.WS_PATH} http://${config.HOST}:${ports.http}${
    ports.mqtts === null ? '' : ` mqtts://${config.HOST}:${ports.mqtts} wss://${config.HOST}:${ports.wss}${config.WS_PATH}`}${
    ports.metrics === null ? '' : ` metrics http://${config.METRICS_HOST}:${ports.metrics}/metrics`}`)

  const chatBroker = broker
  return {
    ports,
    services,
    metrics,
    readiness,
    database,
    broker: chatBroker,
    httpRoutes: routesOf(api),
    /**
     * Reports unready and stops accepting connections; stops reading from
     * the clients and lets every publish already read be stored and
     * acknowledged; then closes the clients, which reconnect elsewhere and
     * resend what got no PUBACK (a resend of a stored message is acknowledged
     * as a duplicate). Writes from REST requests finish before the database
     * is closed, last.
     */
    async close() {
      readiness.drain()
      const mqttClosed = listeners.close()
      const httpClosed = new Promise<void>((resolve) => http.server.close(() => resolve()))
      http.server.closeIdleConnections()
      await chatBroker.drain()
      await services.writer.idle()
      await chatBroker.close()
      await httpClosed
      await services.writer.idle()
      await mqttClosed
      await services.push.close()
      if (metricsHttp) await new Promise<void>((resolve) => { metricsHttp.server.close(() => resolve()); metricsHttp.server.closeAllConnections() })
      // QUIT waits for an answer a Redis that is unreachable never gives: then just drop the connection.
      if (redis?.status === 'ready') await redis.quit().catch(() => redis.disconnect())
      else redis?.disconnect()
      await database.close()
    },
  }
}

/** A Redis client for a cluster; ioredis is loaded only then, so a single node does not carry it. */
async function connectRedis(url: string, keyPrefix: string): Promise<Redis> {
  const { Redis } = await import('ioredis')
  return new Redis(url, { keyPrefix })
}
