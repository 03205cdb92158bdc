import { z } from 'zod'

const id = z.string().regex(/^[A-Za-z0-9_-]{12}$/, 'must be an id')

/** A room id and a member's user id in the path. */
export const MemberParam = z.object({ roomId: id, userId: id })

/** `PATCH /v1/rooms/:roomId`: the same name rule as creating a group. */
export const RenameRoomBody = z.object({ name: z.string().trim().min(1).max(100) }).strict()

/** `POST /v1/rooms/:roomId/members` */
export const AddMembersBody = z.object({ userIds: z.array(id).min(1) }).strict()

/** `PUT /v1/rooms/:roomId/members/:userId/role`: the owner is never set, only inherited. */
export const SetRoleBody = z.object({ role: z.enum(['admin', 'member']) }).strict()
