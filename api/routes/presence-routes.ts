import { Router } from '@koa/router'
import type { ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { PresenceQuery, UserParam } from '../schemas.ts'
import { parseInput } from '../validate.ts'

/** Whether someone is online: for the caller themself and the people they share a room with. */
export function presenceRoutes({ services }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  router.use(requireUser(services))

  router.get('/v1/users/:userId/presence', async (ctx) => {
    const { userId } = parseInput(UserParam, ctx.params)
    ctx.body = { presence: await services.presence.get(ctx.state.userId, userId) }
  })

  // Many at once: an app that opens with hundreds of direct rooms asks once, not once per peer.
  router.get('/v1/presence', async (ctx) => {
    const { userIds } = parseInput(PresenceQuery, ctx.query)
    ctx.body = { presences: await services.presence.getMany(ctx.state.userId, userIds) }
  })

  return router
}
