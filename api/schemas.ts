import { z } from 'zod'

const id = z.string().regex(/^[A-Za-z0-9_-]{12}$/, 'must be an id')

/**
 * A whole number in a path or query string: decimal digits only, so `0x3`,
 * `1e0`, ` 3`, `+3` and an empty value are refused rather than read as
 * numbers (as coercing with `Number()` would), and at most 2^53 - 1 (`int()`).
 */
export const decimal = z.string().regex(/^[0-9]{1,16}$/, 'must be decimal digits')
  .transform(Number).pipe(z.number().int())

/** A positive {@link decimal}: a page size, a message number. */
export const positiveDecimal = decimal.pipe(z.number().min(1, 'must be at least 1'))

/** `POST /v1/auth/register` */
export const RegisterBody = z.object({
  username: z.string().regex(/^[A-Za-z0-9_.-]{3,32}$/, '3-32 letters, digits, _ . or -'),
  password: z.string().min(8, 'at least 8 characters').max(256),
  displayName: z.string().trim().min(1).max(64).optional(),
}).strict()

/** `POST /v1/auth/login` */
export const LoginBody = z.object({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(256),
}).strict()

/** `GET /v1/users?q=&limit=` */
export const UserSearchQuery = z.object({
  q: z.string().trim().min(1).max(64),
  limit: positiveDecimal.optional(),
})

/** `POST /v1/rooms` */
export const CreateRoomBody = z.discriminatedUnion('type', [
  z.object({ type: z.literal('direct'), userId: id }).strict(),
  z.object({ type: z.literal('group'), name: z.string().trim().min(1).max(100), memberIds: z.array(id) }).strict(),
])

/** `GET /v1/rooms/:roomId/messages?limit=&before=&after=` */
export const HistoryQuery = z.object({
  limit: positiveDecimal.optional(),
  before: positiveDecimal.optional(),
  after: decimal.optional(),
})

/** `POST /v1/rooms/:roomId/messages`: the same fields as an MQTT chat payload. */
export const PostMessageBody = z.object({ id: z.string(), body: z.string() }).strict()

/** A room id in the path. */
export const RoomParam = z.object({ roomId: id })

/** A room id and a message number in the path. */
export const MessageParam = z.object({ roomId: id, messageId: positiveDecimal })

/** `PATCH /v1/rooms/:roomId/messages/:messageId` */
export const EditMessageBody = z.object({ body: z.string() }).strict()

/** `PUT /v1/rooms/:roomId/read` */
export const ReadBody = z.object({ lastReadId: z.number().int().positive() }).strict()

/** `POST /v1/sync`: the last message number the client saw in each room it knows. */
export const SyncBody = z.object({
  rooms: z.record(id, z.number().int().min(0)).default({}),
  limit: z.number().int().positive().optional(),
}).strict()

/** A user id in the path. */
export const UserParam = z.object({ userId: id })

/** Most users one `GET /v1/presence` asks about. */
export const PRESENCE_QUERY_MAX = 100

/** `GET /v1/presence?userIds=<id>,<id>...`: up to {@link PRESENCE_QUERY_MAX} distinct ids. */
export const PresenceQuery = z.object({
  userIds: z.string({ error: 'required' }).transform((list) => [...new Set(list.split(','))])
    .pipe(z.array(id).min(1).max(PRESENCE_QUERY_MAX, `at most ${PRESENCE_QUERY_MAX} ids`)),
})

/** `GET /v1/messages/search` and `GET /v1/rooms/:roomId/messages/search`; the query's own rules (length, at least one word) are the search service's. */
export const SearchQuery = z.object({
  q: z.string({ error: 'required' }),
  limit: positiveDecimal.optional(),
  cursor: z.string().min(1).max(500).optional(),
})
