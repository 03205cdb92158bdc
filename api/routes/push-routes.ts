import { Router } from '@koa/router'
import { ChatError } from '../../shared/errors.ts'
import type { ApiDeps, ApiState } from '../context.ts'
import { requireUser } from '../middleware.ts'
import { EndpointQuery, RoomNotificationsBody, RoomParam, SubscriptionBody, UserNotificationsBody } from '../push-schemas.ts'
import { parseInput } from '../validate.ts'

/**
 * Web Push: the server's VAPID public key (public: a page needs it to
 * subscribe), the caller's device subscriptions, and their notification
 * settings (a room muted; do-not-disturb for all rooms).
 */
export function pushRoutes({ services }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()
  const auth = requireUser(services)
  const { push } = services

  router.get('/v1/push/vapid-public-key', (ctx) => {
    ctx.body = { publicKey: push.vapidPublicKey }
  })

  router.get('/v1/push/subscriptions', auth, async (ctx) => {
    ctx.body = { subscriptions: await push.subscriptions(ctx.state.userId) }
  })

  router.post('/v1/push/subscriptions', auth, async (ctx) => {
    const input = parseInput(SubscriptionBody, ctx.request.body)
    ctx.status = 201
    ctx.body = { subscription: await push.subscribe(ctx.state.userId, input) }
  })

  router.delete('/v1/push/subscriptions', auth, async (ctx) => {
    const { endpoint } = parseInput(EndpointQuery, ctx.query)
    if (!(await push.unsubscribe(ctx.state.userId, endpoint))) throw new ChatError('not_found', 'You have no subscription at that endpoint.')
    ctx.status = 204
  })

  router.get('/v1/rooms/:roomId/notifications', auth, async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    ctx.body = { notifications: await push.roomSettings(ctx.state.userId, roomId) }
  })

  router.put('/v1/rooms/:roomId/notifications', auth, async (ctx) => {
    const { roomId } = parseInput(RoomParam, ctx.params)
    const { muted } = parseInput(RoomNotificationsBody, ctx.request.body)
    ctx.body = { notifications: await push.setRoomSettings(ctx.state.userId, roomId, muted) }
  })

  router.get('/v1/users/me/notifications', auth, async (ctx) => {
    ctx.body = { notifications: await push.userSettings(ctx.state.userId) }
  })

  router.put('/v1/users/me/notifications', auth, async (ctx) => {
    const { doNotDisturb } = parseInput(UserNotificationsBody, ctx.request.body)
    ctx.body = { notifications: await push.setUserSettings(ctx.state.userId, doNotDisturb) }
  })

  return router
}
