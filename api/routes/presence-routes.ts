import { Router } from '@koa/router'
import { z } from 'zod'
import type { ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { parseInput } from '../validate.ts'

/** A user id in the path. */
const UserParam = z.object({ userId: z.string().regex(/^[A-Za-z0-9_-]{12}$/, 'must be an id') })

/** Whether someone is online: for the caller themself and the people they share a room with. */
export function presenceRoutes({ services }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  router.use(requireUser(services))

  router.get('/v1/users/:userId/presence', async (ctx) => {
    const { userId } = parseInput(UserParam, ctx.params)
    ctx.body = { presence: await services.presence.get(ctx.state.userId, userId) }
  })

  return router
}
