import { AdminStatsAnswer, AdminUserAnswer, AdminUserPage, AdminUserParam, AdminUserPatch, AdminUsersQuery, SystemMessageBody } from '../admin-schemas.ts'
import { RoomParam } from '../schemas.ts'
import type { Operation } from './operation.ts'
import { MessageAnswer } from './responses.ts'

/** The admin API (README, Administration): every operation answers 403 `forbidden` to non-admins. */
export const ADMIN_OPERATIONS: Operation[] = [
  { method: 'get', path: '/v1/admin/users', tag: 'admin', summary: 'Users, a page at a time, optionally by part of the username', access: 'admin', query: AdminUsersQuery,
    responses: { 200: { description: 'A page of users.', schema: AdminUserPage } } },
  { method: 'patch', path: '/v1/admin/users/:userId', tag: 'admin', summary: 'Disable or enable a user (closing their connections on every node), or grant or revoke admin', access: 'admin',
    params: AdminUserParam, body: AdminUserPatch, responses: { 200: { description: 'The user after the change.', schema: AdminUserAnswer } }, errors: ['user_not_found'] },
  { method: 'delete', path: '/v1/admin/rooms/:roomId', tag: 'admin', summary: 'Delete any room; its members are told', access: 'admin', params: RoomParam,
    responses: { 204: { description: 'Deleted.' } }, errors: ['room_not_found'] },
  { method: 'post', path: '/v1/admin/rooms/:roomId/messages', tag: 'admin', summary: 'Post a system message that members receive live and in history', access: 'admin',
    params: RoomParam, body: SystemMessageBody,
    responses: { 200: { description: 'A retry of a stored message (same `id`).', schema: MessageAnswer }, 201: { description: 'Stored and delivered.', schema: MessageAnswer } },
    errors: ['room_not_found', 'server_busy'] },
  { method: 'get', path: '/v1/admin/stats', tag: 'admin', summary: 'Users, rooms, messages, and connected clients per node', access: 'admin',
    responses: { 200: { description: 'Counts.', schema: AdminStatsAnswer } } },
]
