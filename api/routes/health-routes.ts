import { Router } from '@koa/router'
import type { Metrics } from '../../shared/metrics.ts'
import type { Readiness } from '../../shared/readiness.ts'
import type { ApiState } from '../context.ts'
import { metricsAuthorized, metricsRefusal } from '../metrics-server.ts'

/** What the operations routes need. */
export interface OpsDeps {
  readiness: Readiness
  metrics: Metrics
  /** Serve `GET /metrics` on the API port, behind this bearer token (undefined: not served here). */
  apiMetricsToken?: string | undefined
}

/**
 * Unauthenticated probes for orchestrators and load balancers:
 * `GET /healthz` answers 200 while the process runs; `GET /readyz` answers
 * 200 when Postgres, the migrations and (clustered) Redis are fine and 503
 * with the failing checks otherwise, or while the node shuts down. With
 * `apiMetricsToken`, also `GET /metrics` for a scraper holding the token.
 */
export function healthRoutes(ops: OpsDeps): Router<ApiState> {
  const router = new Router<ApiState>()

  router.get('/healthz', (ctx) => {
    ctx.set('cache-control', 'no-store')
    ctx.body = { status: 'ok' }
  })

  router.get('/readyz', async (ctx) => {
    const report = await ops.readiness.check()
    ctx.set('cache-control', 'no-store')
    ctx.status = report.ready ? 200 : 503
    ctx.body = report
  })

  const token = ops.apiMetricsToken
  if (token !== undefined) {
    router.get('/metrics', async (ctx) => {
      if (!metricsAuthorized(ctx.get('authorization'), token)) throw metricsRefusal()
      ctx.set('cache-control', 'no-store')
      ctx.type = ops.metrics.contentType
      ctx.body = await ops.metrics.render()
    })
  }

  return router
}
