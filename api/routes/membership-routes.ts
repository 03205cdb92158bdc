import { Router } from '@koa/router'
import type { ApiDeps, ApiState } from '../context.ts'
import { AddMembersBody, MemberParam, RenameRoomBody, SetRoleBody } from '../membership-schemas.ts'
import { requireUser } from '../middleware.ts'
import { RoomParam } from '../schemas.ts'
import { parseInput } from '../validate.ts'

/** Managing a group room: rename, members, roles, leave, delete. */
export function membershipRoutes({ services }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  router.use(requireUser(services))
  const admin = services.membershipAdmin

  router.patch('/v1/rooms/:roomId', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    const { name } = parseInput(RenameRoomBody, ctx.request.body)
    ctx.body = { room: await admin.rename(ctx.state.userId, roomId, name) }
  })

  router.delete('/v1/rooms/:roomId', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    await admin.deleteRoom(ctx.state.userId, roomId)
    ctx.status = 204
  })

  router.post('/v1/rooms/:roomId/members', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    const { userIds } = parseInput(AddMembersBody, ctx.request.body)
    ctx.body = await admin.addMembers(ctx.state.userId, roomId, userIds)
  })

  // The caller's own id: leaving the room.
  router.delete('/v1/rooms/:roomId/members/:userId', async (ctx) => {
    const { roomId, userId } = parseInput(MemberParam, ctx.params)
    await admin.removeMember(ctx.state.userId, roomId, userId)
    ctx.status = 204
  })

  router.put('/v1/rooms/:roomId/members/:userId/role', async (ctx) => {
    const { roomId, userId } = parseInput(MemberParam, ctx.params)
    const { role } = parseInput(SetRoleBody, ctx.request.body)
    ctx.body = { room: await admin.setRole(ctx.state.userId, roomId, userId, role) }
  })

  return router
}
