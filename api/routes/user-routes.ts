import { Router } from '@koa/router'
import type { ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { UserSearchQuery } from '../schemas.ts'
import { parseInput } from '../validate.ts'

/** The caller's own account, and finding someone to chat with. */
export function userRoutes({ services, pageMax }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  router.use(requireUser(services))

  router.get('/v1/users/me', async (ctx) => {
    ctx.body = { user: await services.accounts.activeUser(ctx.state.userId) }
  })

  router.get('/v1/users', async (ctx) => {
    const { q, limit } = parseInput(UserSearchQuery, ctx.query)
    ctx.body = { users: await services.accounts.search(q, Math.min(limit ?? 20, pageMax)) }
  })

  return router
}
