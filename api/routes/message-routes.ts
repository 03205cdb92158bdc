import { Router } from '@koa/router'
import type { ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { EditMessageBody, MessageParam, ReadBody, RoomParam, SyncBody } from '../schemas.ts'
import { parseInput } from '../validate.ts'

/**
 * What a member does to messages besides sending them: edit and delete
 * their own, mark the room read, signal typing, and catch up after a
 * reconnect. The same services handle these events over MQTT.
 */
export function messageRoutes({ services, syncRoomMax }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  router.use(requireUser(services))

  router.patch('/v1/rooms/:roomId/messages/:messageId', async (ctx) => {
    const { roomId, messageId } = parseInput(MessageParam, ctx.params)
    const { body } = parseInput(EditMessageBody, ctx.request.body)
    ctx.body = { message: await services.messages.edit(ctx.state.userId, roomId, messageId, body) }
  })

  router.delete('/v1/rooms/:roomId/messages/:messageId', async (ctx) => {
    const { roomId, messageId } = parseInput(MessageParam, ctx.params)
    ctx.body = { message: await services.messages.remove(ctx.state.userId, roomId, messageId) }
  })

  router.put('/v1/rooms/:roomId/read', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    const { lastReadId } = parseInput(ReadBody, ctx.request.body)
    ctx.body = await services.reads.markRead(ctx.state.userId, roomId, lastReadId)
  })

  router.post('/v1/rooms/:roomId/typing', async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    ctx.body = { sent: await services.typing.signal(ctx.state.userId, roomId) }
  })

  router.post('/v1/sync', async (ctx) => {
    const { rooms, limit } = parseInput(SyncBody, ctx.request.body ?? {})
    ctx.body = await services.messages.sync(ctx.state.userId, rooms, Math.min(limit ?? syncRoomMax, syncRoomMax))
  })

  return router
}
