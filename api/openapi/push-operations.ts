import { z } from 'zod'
import { EndpointQuery, RoomNotificationsBody, RoomParam, SubscriptionBody, UserNotificationsBody } from '../push-schemas.ts'
import type { Operation } from './operation.ts'

const id = z.string().describe('A 12-character id')
const Subscription = z.object({ id, endpoint: z.string(), createdAt: z.iso.datetime({ offset: true }) })
const RoomNotifications = z.object({ notifications: z.object({ roomId: id, muted: z.boolean() }) })
const UserNotifications = z.object({ notifications: z.object({ doNotDisturb: z.boolean() }) })

/** Web Push: the VAPID key, devices' subscriptions, room mutes and do-not-disturb (docs/PROTOCOL.md, Push notifications). */
export const PUSH_OPERATIONS: Operation[] = [
  { method: 'get', path: '/v1/push/vapid-public-key', tag: 'push', summary: 'The server\'s VAPID public key, for applicationServerKey', access: 'public',
    responses: { 200: { description: 'The key (base64url).', schema: z.object({ publicKey: z.string() }) } } },
  { method: 'get', path: '/v1/push/subscriptions', tag: 'push', summary: 'Your subscribed devices', access: 'user',
    responses: { 200: { description: 'Oldest first.', schema: z.object({ subscriptions: z.array(Subscription) }) } } },
  { method: 'post', path: '/v1/push/subscriptions', tag: 'push', summary: 'Subscribe a device (PushSubscription.toJSON())', access: 'user', body: SubscriptionBody,
    responses: { 201: { description: 'Stored (the same endpoint keeps its id).', schema: z.object({ subscription: Subscription }) } },
    errors: ['too_many_push_subscriptions'] },
  { method: 'delete', path: '/v1/push/subscriptions', tag: 'push', summary: 'Forget a device, by endpoint', access: 'user', query: EndpointQuery,
    responses: { 204: { description: 'Done; no body.' } }, errors: ['not_found'] },
  { method: 'get', path: '/v1/rooms/:roomId/notifications', tag: 'push', summary: 'Whether you muted a room', access: 'user', params: RoomParam,
    responses: { 200: { description: 'The setting.', schema: RoomNotifications } }, errors: ['room_not_found'] },
  { method: 'put', path: '/v1/rooms/:roomId/notifications', tag: 'push', summary: 'Mute or unmute a room\'s pushes', access: 'user', params: RoomParam, body: RoomNotificationsBody,
    responses: { 200: { description: 'The setting.', schema: RoomNotifications } }, errors: ['room_not_found'] },
  { method: 'get', path: '/v1/users/me/notifications', tag: 'push', summary: 'Your do-not-disturb', access: 'user',
    responses: { 200: { description: 'The setting.', schema: UserNotifications } } },
  { method: 'put', path: '/v1/users/me/notifications', tag: 'push', summary: 'Turn do-not-disturb on or off', access: 'user', body: UserNotificationsBody,
    responses: { 200: { description: 'The setting.', schema: UserNotifications } } },
]
