import { z } from 'zod'
import { positiveDecimal } from './schemas.ts'

const id = z.string().regex(/^[A-Za-z0-9_-]{12}$/, 'must be an id')

/** `GET /v1/admin/users?q=&limit=&cursor=`: `q` is a part of the username (any case). */
export const AdminUsersQuery = z.object({
  q: z.string().trim().min(1).max(64).optional(),
  limit: positiveDecimal.optional(),
  cursor: z.string().min(1).max(512).optional(),
})

/** A user id in the path. */
export const AdminUserParam = z.object({ userId: id })

/** `PATCH /v1/admin/users/:userId`: either flag, or both. */
export const AdminUserPatch = z.object({ disabled: z.boolean().optional(), admin: z.boolean().optional() }).strict()
  .refine((change) => change.disabled !== undefined || change.admin !== undefined, 'give `disabled`, `admin` or both')

/** `POST /v1/admin/rooms/:roomId/messages`: the body, and optionally an id that makes a retry safe. */
export const SystemMessageBody = z.object({ body: z.string(), id: z.string().optional() }).strict()

const count = z.number().int().min(0)

/** A user as an admin sees it (answers of the admin user routes). */
export const AdminUser = z.strictObject({
  id, username: z.string(), displayName: z.string(), admin: z.boolean(), disabled: z.boolean(),
  createdAt: z.iso.datetime(), lastSeenAt: z.iso.datetime().nullable(),
})

/** Answer of `PATCH /v1/admin/users/:userId`. */
export const AdminUserAnswer = z.strictObject({ user: AdminUser })

/** Answer of `GET /v1/admin/users`: `nextCursor` is null on the last page. */
export const AdminUserPage = z.strictObject({ users: z.array(AdminUser), nextCursor: z.string().nullable() })

/** Answer of `GET /v1/admin/stats`. */
export const AdminStatsAnswer = z.strictObject({
  users: z.strictObject({ total: count, disabled: count, admins: count }),
  rooms: z.strictObject({ total: count, direct: count, group: count }),
  messages: count,
  connections: z.strictObject({ total: count, nodes: z.array(z.strictObject({ nodeId: z.string(), connections: count })) }),
})
