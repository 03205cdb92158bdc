import { createServer, type Server } from 'node:http'
import Koa from 'koa'
import { bodyParser } from '@koa/bodyparser'
import { listen } from '../shared/listen.ts'
import type { ApiDeps, ApiState } from './context.ts'
import { handleErrorsAndLog } from './middleware.ts'
import { authRoutes } from './routes/auth-routes.ts'
import { membershipRoutes } from './routes/membership-routes.ts'
import { messageRoutes } from './routes/message-routes.ts'
import { presenceRoutes } from './routes/presence-routes.ts'
import { roomRoutes } from './routes/room-routes.ts'
import { searchRoutes } from './routes/search-routes.ts'
import { userRoutes } from './routes/user-routes.ts'

/** The Koa application of the REST API (docs/PROTOCOL.md lists its routes). */
export function createApi(deps: ApiDeps): Koa<ApiState> {
  const app = new Koa<ApiState>({ proxy: false })
  app.use(handleErrorsAndLog(deps.log))
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: deps.jsonLimit, encoding: 'utf-8' }))
  // Search before the room and message routes, which could take "search" in /v1/rooms/:roomId/messages/search for a message id.
  for (const router of [authRoutes(deps), userRoutes(deps), searchRoutes(deps), roomRoutes(deps), membershipRoutes(deps), messageRoutes(deps), presenceRoutes(deps)]) {
    app.use(router.routes()).use(router.allowedMethods({ throw: true }))
  }
  return app
}

/** Serves `app` on `host:port` (0: any free port); resolves with the bound port. */
export async function startHttp(app: Koa<ApiState>, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer(app.callback())
  server.keepAliveTimeout = 5000
  return { server, port: await listen(server, port, host, 'HTTP_PORT') }
}
