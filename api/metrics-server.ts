import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { ChatError, errorBody } from '../shared/errors.ts'
import { listen } from '../shared/listen.ts'
import type { Metrics } from '../shared/metrics.ts'

/** Where and how `GET /metrics` is served on a listener of its own. */
export interface MetricsServerOptions {
  host: string
  port: number
  /** Set: scrapes must send `Authorization: Bearer <token>`. */
  token?: string | undefined
}

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * Whether an `Authorization` header carries `token` (always true when no
 * token is configured). Hashing first gives equal lengths, so the
 * comparison takes the same time whatever the guess.
 */
export function metricsAuthorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true
  const match = /^Bearer (.+)$/.exec(header ?? '')
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token))
}

/** The refusal of a scrape without the metrics token. */
export function metricsRefusal(): ChatError {
  return new ChatError('unauthenticated', 'Send "Authorization: Bearer <METRICS_TOKEN>".')
}

/**
 * A plain HTTP listener that serves `GET /metrics` and nothing else, so
 * metrics can stay on a private address or port while the API faces the
 * world. Scrapes are not logged (one every few seconds would drown the log).
 */
export async function startMetricsServer(metrics: Metrics, opts: MetricsServerOptions): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const fail = (err: ChatError) => res.writeHead(err.status, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody(err)))
    if (new URL(req.url ?? '/', 'http://metrics').pathname !== '/metrics') return fail(new ChatError('not_found', 'Only GET /metrics is served here.'))
    if (req.method !== 'GET') return fail(new ChatError('method_not_allowed'))
    if (!metricsAuthorized(req.headers.authorization, opts.token)) return fail(metricsRefusal())
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text),
      () => fail(new ChatError('internal')),
    )
  })
  server.keepAliveTimeout = 5000
  return { server, port: await listen(server, opts.port, opts.host, 'METRICS_PORT') }
}
