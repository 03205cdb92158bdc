import { Router } from '@koa/router'
import type { Next } from 'koa'
import { AdminUserParam, AdminUserPatch, AdminUsersQuery, SystemMessageBody } from '../admin-schemas.ts'
import type { ApiContext, ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { RoomParam } from '../schemas.ts'
import { parseInput } from '../validate.ts'

const DEFAULT_PAGE = 50

/**
 * The service's administration, for admins only: any other user gets
 * `403 forbidden` before anything is read or checked (so the routes leak
 * nothing), no valid token `401 unauthenticated`.
 */
export function adminRoutes({ services, pageMax }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  const admin = services.admin
  router.use(requireUser(services))
  router.use(async (ctx: ApiContext, next: Next) => {
    await admin.requireAdmin(ctx.state.userId)
    await next()
  })

  router.get('/v1/admin/users', async (ctx) => {
    const { q, limit, cursor } = parseInput(AdminUsersQuery, ctx.query)
    ctx.body = await admin.listUsers({ query: q, cursor, limit: Math.min(limit ?? DEFAULT_PAGE, pageMax) })
  })

  router.patch('/v1/admin/users/:userId', async (ctx) => {
    const { userId } = parseInput(AdminUserParam, ctx.params)
    const change = parseInput(AdminUserPatch, ctx.request.body)
    ctx.body = { user: await admin.updateUser(ctx.state.userId, userId, change) }
  })

  router.delete('/v1/admin/rooms/:roomId', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    await admin.deleteRoom(ctx.state.userId, roomId)
    ctx.status = 204
  })

  router.post('/v1/admin/rooms/:roomId/messages', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    const { body, id } = parseInput(SystemMessageBody, ctx.request.body)
    const { message, duplicate } = await admin.postSystemMessage(roomId, body, id)
    ctx.status = duplicate ? 200 : 201
    ctx.body = { message }
  })

  router.get('/v1/admin/stats', async (ctx) => {
    ctx.body = await admin.stats()
  })

  return router
}
