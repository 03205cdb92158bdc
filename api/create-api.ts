import { createServer, type Server } from 'node:http'
import Koa from 'koa'
import { bodyParser } from '@koa/bodyparser'
import { listen } from '../shared/listen.ts'
import type { ApiDeps, ApiState } from './context.ts'
import { handleErrorsAndLog } from './middleware.ts'
import { healthRoutes, type OpsDeps } from './routes/health-routes.ts'
import { adminRoutes } from './routes/admin-routes.ts'
import { apiOperations } from './openapi/operations.ts'
import { openApiRoutes } from './routes/openapi-routes.ts'
import { authRoutes } from './routes/auth-routes.ts'
import { membershipRoutes } from './routes/membership-routes.ts'
import { messageRoutes } from './routes/message-routes.ts'
import { presenceRoutes } from './routes/presence-routes.ts'
import { pushRoutes } from './routes/push-routes.ts'
import { roomRoutes } from './routes/room-routes.ts'
import { searchRoutes } from './routes/search-routes.ts'
import { userRoutes } from './routes/user-routes.ts'
import { webRoutes, type WebOptions } from './routes/web-routes.ts'

/** The Koa application of the REST API (docs/PROTOCOL.md lists its routes), with the health probes of `ops` (README, Operations). */
export function createApi(deps: ApiDeps, ops: OpsDeps, web?: WebOptions): Koa<ApiState> {
  const app = new Koa<ApiState>({ proxy: false })
  app.use(handleErrorsAndLog(deps.log, ops.metrics))
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: deps.jsonLimit, encoding: 'utf-8' }))
  // Search before the room and message routes, which could take "search" in /v1/rooms/:roomId/messages/search for a message id.
  const operations = apiOperations({ metricsOnApi: ops.apiMetricsToken !== undefined })
  for (const router of [healthRoutes(ops), openApiRoutes(operations), authRoutes(deps), pushRoutes(deps), userRoutes(deps), searchRoutes(deps), roomRoutes(deps), membershipRoutes(deps), messageRoutes(deps), presenceRoutes(deps), adminRoutes(deps)]) {
    // Not `throw: true`: the router throws before it sets `Allow`. It answers 405 (or 501 for a method it
    // does not know) with `Allow` and no body, which handleErrorsAndLog turns into `method_not_allowed`.
    app.use(router.routes()).use(router.allowedMethods())
  }
  // The chat page last: it only serves files, never a path of the API or of operations.
  if (web) app.use(webRoutes(web))
  return app
}

/** Serves `app` on `host:port` (0: any free port); resolves with the bound port. */
export async function startHttp(app: Koa<ApiState>, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer(app.callback())
  server.keepAliveTimeout = 5000
  return { server, port: await listen(server, port, host, 'HTTP_PORT') }
}

/** Every route the app's routers serve, as `METHOD /path` in Koa's path form (HEAD, which Koa adds to GET, left out). */
export function routesOf(app: Koa<ApiState>): string[] {
  const routes = new Set<string>()
  for (const middleware of app.middleware) {
    const router = (middleware as { router?: { stack: Array<{ path: string; methods: string[] }> } }).router
    for (const layer of router?.stack ?? []) {
      for (const method of layer.methods) if (method !== 'HEAD') routes.add(`${method} ${layer.path}`)
    }
  }
  return [...routes].sort()
}
