import { Router } from '@koa/router'
import type { ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { RoomParam, SearchQuery } from '../schemas.ts'
import { parseInput } from '../validate.ts'

/** Message search: in one room, or across all of the caller's rooms. */
export function searchRoutes({ services }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  router.use(requireUser(services))

  router.get('/v1/rooms/:roomId/messages/search', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    ctx.body = await services.search.inRoom(ctx.state.userId, roomId, parseInput(SearchQuery, ctx.query))
  })

  router.get('/v1/messages/search', async (ctx) => {
    ctx.body = await services.search.everywhere(ctx.state.userId, parseInput(SearchQuery, ctx.query))
  })

  return router
}
