import { newConnectionId } from '../shared/ids.ts'
import type { Aedes, Client, PublishPacket } from 'aedes'
import { ChatError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { Metrics } from '../shared/metrics.ts'
import type { ErrorEvent } from '../shared/protocol.ts'
import type { Realtime } from '../shared/realtime.ts'
import type { Sessions } from './sessions.ts'

/** What is remembered of an accepted connection until it closes, for its disconnect line. */
interface Connection {
  connectionId: string
  userId: string | undefined
  remoteAddress: string | undefined
  connectedAt: number
  reason?: string
}

// Return codes the authenticate hook refuses with; it logs those itself, with the reason.
const LOGGED_BY_AUTHENTICATE = new Set([3, 4, 5])
const AUTH_FAILURES = new Set([4, 5])

/** The peer's address: the HTTP upgrade request's socket for WebSocket, the socket itself for TCP when Aedes sees it. */
function remoteAddress(client: Client): string | undefined {
  const withReq = client as unknown as { req?: { socket?: { remoteAddress?: string } }; conn: { remoteAddress?: string } }
  return withReq.req?.socket?.remoteAddress ?? withReq.conn.remoteAddress
}

/** Why a connection ended, as far as Aedes lets us see it. */
function disconnectReason(aedes: Aedes, client: Client, entry: Connection): string {
  if ((client as unknown as { _disconnected?: boolean })._disconnected) return 'client_disconnect'
  if (entry.reason) return entry.reason
  return aedes.closed ? 'server_shutdown' : 'closed'
}

/**
 * Logs one JSON line per MQTT connect and disconnect, sharing a
 * `connectionId` (with client id, user id, remote address; the disconnect
 * adds the duration and the reason), and counts CONNACKs, authentication
 * failures, connections and unacknowledged publishes. Listens to Aedes
 * events only, off the publish path.
 */
export function observeBroker(aedes: Aedes, deps: { sessions: Sessions; log: Logger; metrics: Metrics }): void {
  const { log, metrics } = deps
  const connections = new WeakMap<Client, Connection>()
  metrics.sources.connections = () => aedes.connectedClients
  aedes.on('connackSent', (packet, client) => {
    const returnCode = packet.returnCode ?? 0
    metrics.connects.inc({ return_code: returnCode })
    if (AUTH_FAILURES.has(returnCode)) metrics.authFailures.inc({ return_code: returnCode })
    if (returnCode !== 0) {
      if (!LOGGED_BY_AUTHENTICATE.has(returnCode)) log.info({ clientId: client.id, returnCode, remoteAddress: remoteAddress(client) }, 'mqtt connect refused')
      return
    }
    const entry: Connection = { connectionId: newConnectionId(), userId: deps.sessions.get(client)?.userId, remoteAddress: remoteAddress(client), connectedAt: performance.now() }
    connections.set(client, entry)
    log.info({ connectionId: entry.connectionId, clientId: client.id, userId: entry.userId, remoteAddress: entry.remoteAddress, clean: client.clean }, 'mqtt connected')
  })
  aedes.on('keepaliveTimeout', (client) => {
    const entry = connections.get(client)
    if (entry) entry.reason = 'keepalive_timeout'
  })
  aedes.on('clientError', (client, err) => {
    if (err instanceof ChatError) metrics.refusals.inc({ transport: 'mqtt', code: err.code })
    const entry = connections.get(client)
    if (entry && !entry.reason) entry.reason = err instanceof ChatError ? err.code : `error: ${err.message}`
  })
  aedes.on('clientDisconnect', (client) => {
    const entry = connections.get(client)
    if (!entry) return
    connections.delete(client)
    log.info({
      connectionId: entry.connectionId, clientId: client.id, userId: entry.userId, remoteAddress: entry.remoteAddress,
      durationMs: Math.round(performance.now() - entry.connectedAt), reason: disconnectReason(aedes, client, entry),
    }, 'mqtt disconnected')
  })
}

type PublishHook = (client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void) => void

/**
 * Counts the publishes of authenticated clients (one integer increment) and
 * those whose PUBLISH hook has not called back yet, so that shutdown can stop
 * reading from clients and wait until every publish already read is stored
 * and acknowledged ({@link idle}).
 */
export class PublishTracker {
  readonly #hot: Metrics['hot']
  #inFlight = 0
  #waiting: Array<() => void> = []

  constructor(metrics: Metrics) {
    this.#hot = metrics.hot
  }

  /** `hook`, counted. */
  wrap(hook: PublishHook): PublishHook {
    const settled = () => {
      if (--this.#inFlight === 0 && this.#waiting.length > 0) for (const resolve of this.#waiting.splice(0)) resolve()
    }
    return (client, packet, done) => {
      if (!client) return hook(client, packet, done)
      this.#hot.publishesReceived++
      this.#inFlight++
      hook(client, packet, (error) => {
        settled()
        done(error)
      })
    }
  }

  /** Resolves once no publish is between arrival and its hook's answer. */
  idle(): Promise<void> {
    return this.#inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiting.push(resolve))
  }
}

/** `report`, counting each refusal it reports by its code. */
export function countingReports(report: (userId: string, event: ErrorEvent) => void, metrics: Metrics): (userId: string, event: ErrorEvent) => void {
  return (userId, event) => {
    metrics.refusals.inc({ transport: 'mqtt', code: event.code })
    report(userId, event)
  }
}

/** `realtime`, counting each stored message it delivers. */
export function countingDeliveries<R extends Realtime>(realtime: R, metrics: Metrics): R {
  const hot = metrics.hot
  return { ...realtime, deliver: (message) => { hot.messagesDelivered++; realtime.deliver(message) } }
}
