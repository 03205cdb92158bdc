import { z } from 'zod'

const id = z.string().regex(/^[A-Za-z0-9_-]{12}$/, 'must be an id')

/** base64url text that decodes to `bytes` bytes (whose first is `first`, when given). */
function base64url(bytes: number, what: string, first?: number) {
  return z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url').refine((text) => {
    const decoded = Buffer.from(text, 'base64url')
    return decoded.length === bytes && (first === undefined || decoded[0] === first)
  }, `must be ${what}`)
}

/** A push service endpoint: push services speak only HTTPS. */
const Endpoint = z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2048)

/**
 * `POST /v1/push/subscriptions`: a browser's `PushSubscription.toJSON()`.
 * `p256dh` is the device's uncompressed P-256 public key (65 bytes, 0x04
 * first) and `auth` its 16-byte secret (RFC 8291), both base64url.
 */
export const SubscriptionBody = z.object({
  endpoint: Endpoint,
  expirationTime: z.number().nullable().optional(),
  keys: z.object({
    p256dh: base64url(65, 'an uncompressed P-256 public key (65 bytes)', 0x04),
    auth: base64url(16, 'a 16-byte secret'),
  }),
})

/** `DELETE /v1/push/subscriptions?endpoint=`: which device to forget (in the query: DELETE bodies are not read). */
export const EndpointQuery = z.object({ endpoint: Endpoint })

/** A room id in the path. */
export const RoomParam = z.object({ roomId: id })

/** `PUT /v1/rooms/:roomId/notifications` */
export const RoomNotificationsBody = z.object({ muted: z.boolean() }).strict()

/** `PUT /v1/users/me/notifications` */
export const UserNotificationsBody = z.object({ doNotDisturb: z.boolean() }).strict()
