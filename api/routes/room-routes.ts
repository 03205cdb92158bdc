import { Router } from '@koa/router'
import type { ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { CreateRoomBody, HistoryQuery, PostMessageBody, RoomParam } from '../schemas.ts'
import { parseInput } from '../validate.ts'

const DEFAULT_PAGE = 50

/** Rooms and their messages; every route is for the room's members only. */
export function roomRoutes({ services, pageMax }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  router.use(requireUser(services))

  router.post('/v1/rooms', async (ctx) => {
    const input = parseInput(CreateRoomBody, ctx.request.body)
    const { room, created } = input.type === 'direct'
      ? await services.rooms.openDirect(ctx.state.userId, input.userId)
      : { room: await services.rooms.createGroup(ctx.state.userId, input.name, input.memberIds), created: true }
    ctx.status = created ? 201 : 200
    ctx.body = { room }
  })

  router.get('/v1/rooms', async (ctx) => {
    ctx.body = { rooms: await services.rooms.list(ctx.state.userId) }
  })

  // Before /v1/rooms/:roomId, which would otherwise take "unread" for a room id.
  router.get('/v1/rooms/unread', async (ctx) => {
    ctx.body = await services.reads.unread(ctx.state.userId)
  })

  router.get('/v1/rooms/:roomId', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    ctx.body = { room: await services.rooms.get(ctx.state.userId, roomId) }
  })

  router.get('/v1/rooms/:roomId/messages', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    const { limit, before, after } = parseInput(HistoryQuery, ctx.query)
    ctx.body = await services.messages.history(ctx.state.userId, roomId, { limit: Math.min(limit ?? DEFAULT_PAGE, pageMax), before, after })
  })

  router.post('/v1/rooms/:roomId/messages', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    const { id, body } = parseInput(PostMessageBody, ctx.request.body)
    const { message, duplicate } = await services.messages.send(ctx.state.userId, roomId, services.messages.validate(id, body))
    ctx.status = duplicate ? 200 : 201
    ctx.body = { message }
  })

  return router
}
