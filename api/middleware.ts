import { randomUUID } from 'node:crypto'
import type { Next } from 'koa'
import { isDatabaseUnavailable } from '../shared/db/unavailable.ts'
import { ChatError, errorBody } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { Metrics } from '../shared/metrics.ts'
import type { Services } from '../shared/services.ts'
import type { ApiContext } from './context.ts'

const PROBES = new Set(['/healthz', '/readyz'])

/**
 * Outermost middleware: one JSON log line per request (method, path, route
 * template, status, duration; never headers or bodies, which hold tokens and
 * passwords), its duration in `metrics` by route template (never the raw
 * path, whose ids would make a series per room), and every error turned
 * into the catalogue's JSON shape.
 */
export function handleErrorsAndLog(log: Logger, metrics?: Metrics) {
  return async function errorsAndLog(ctx: ApiContext, next: Next): Promise<void> {
    const started = performance.now()
    ctx.state.requestId = randomUUID()
    ctx.set('x-request-id', ctx.state.requestId)
    try {
      await next()
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined) {
        // The router's answer for a path served with other methods, `Allow` already set; none: no route at all.
        if (ctx.response.get('allow')) throw new ChatError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('allow')}.`)
        ctx.remove('allow')
        ctx.status = 404
      }
      if (ctx.status === 404 && ctx.body === undefined) throw new ChatError('not_found', `No route ${ctx.method} ${ctx.path}.`)
    } catch (err) {
      const chatError = toChatError(err)
      if (chatError.code === 'internal') log.error({ err, requestId: ctx.state.requestId }, 'request failed')
      ctx.status = chatError.status
      ctx.body = errorBody(chatError)
      metrics?.refusals.inc({ transport: 'http', code: chatError.code })
      const retryAfterMs = (chatError.details as { retryAfterMs?: number } | undefined)?.retryAfterMs
      if (retryAfterMs) ctx.set('retry-after', String(Math.ceil(retryAfterMs / 1000)))
    }
    const ms = performance.now() - started
    const route = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute?.toString() ?? 'unmatched'
    metrics?.httpDuration.observe({ method: ctx.method, route, status: ctx.status }, ms / 1000)
    // Probes arrive every few seconds from every balancer: logged only at debug unless they fail.
    const level = PROBES.has(route) && ctx.status < 500 ? 'debug' : 'info'
    log[level]({ requestId: ctx.state.requestId, method: ctx.method, path: ctx.path, route, status: ctx.status, ms: Math.round(ms), userId: ctx.state.userId }, 'http request')
  }
}

function toChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err
  const status = (err as { status?: number }).status
  if (status === 413) return new ChatError('payload_too_large', 'The request body is too large.')
  if (status === 405 || status === 501) return new ChatError('method_not_allowed')
  if (status === 400 || status === 415) return new ChatError('bad_request', 'The request body is not valid JSON.')
  if (isDatabaseUnavailable(err)) return new ChatError('server_busy', 'The database is unavailable; retry later.')
  return new ChatError('internal')
}

/**
 * Requires `Authorization: Bearer <access token>` of an enabled account; sets
 * `ctx.state.userId`. Counts the request against the user's
 * `HTTP_REQUESTS_PER_MINUTE` (`rate_limited` beyond it).
 */
export function requireUser(services: Services) {
  return async function authenticated(ctx: ApiContext, next: Next): Promise<void> {
    const header = ctx.get('authorization')
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header)
    if (!match) throw new ChatError('unauthenticated', 'Send "Authorization: Bearer <access token>".')
    const claims = await services.tokens.verify(match[1]!)
    await services.accounts.assertActive(claims.userId)
    ctx.state.userId = claims.userId // before the request limit, so a refusal's log line names the user
    await services.requests.take(claims.userId)
    await next()
  }
}
