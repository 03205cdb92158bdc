import { AddMembersBody, MemberParam, RenameRoomBody, SetRoleBody } from '../membership-schemas.ts'
import {
  CreateRoomBody, EditMessageBody, HistoryQuery, LoginBody, MessageParam, PostMessageBody, ReadBody, RegisterBody,
  PresenceQuery, RoomParam, SearchQuery, SyncBody, UserParam, UserSearchQuery,
} from '../schemas.ts'
import type { Operation } from './operation.ts'
import {
  AddMembersAnswer, HistoryPage, KeySet, LoginAnswer, MessageAnswer, PresenceAnswer, PresencesAnswer, ReadAnswer, RoomAnswer, RoomList,
  SearchPage, SyncAnswer, TypingAnswer, UnreadAnswer, UserAnswer, UserList,
} from './responses.ts'

const noContent = { 204: { description: 'Done; no body.' } }

/** Accounts, rooms, messages, membership, read state, search and presence (docs/PROTOCOL.md). */
export const CHAT_OPERATIONS: Operation[] = [
  { method: 'post', path: '/v1/auth/register', tag: 'accounts', summary: 'Create an account', access: 'public', body: RegisterBody,
    responses: { 201: { description: 'Created.', schema: UserAnswer } }, errors: ['username_taken', 'rate_limited'] },
  { method: 'post', path: '/v1/auth/login', tag: 'accounts', summary: 'Log in: an access token for REST and for MQTT CONNECT', access: 'public', body: LoginBody,
    responses: { 200: { description: 'Logged in.', schema: LoginAnswer } }, errors: ['invalid_credentials', 'rate_limited'] },
  { method: 'get', path: '/.well-known/jwks.json', tag: 'accounts', summary: 'The public key that verifies access tokens', access: 'public',
    responses: { 200: { description: 'The key set.', schema: KeySet } } },
  { method: 'get', path: '/v1/users/me', tag: 'accounts', summary: 'Your own account', access: 'user',
    responses: { 200: { description: 'You.', schema: UserAnswer } } },
  { method: 'get', path: '/v1/users', tag: 'accounts', summary: 'Find users by name', access: 'user', query: UserSearchQuery,
    responses: { 200: { description: 'Matches.', schema: UserList } } },
  { method: 'get', path: '/v1/users/:userId/presence', tag: 'presence', summary: 'Whether a user you share a room with is online', access: 'user', params: UserParam,
    responses: { 200: { description: 'Their presence.', schema: PresenceAnswer } }, errors: ['user_not_found'] },
  { method: 'get', path: '/v1/presence', tag: 'presence', summary: 'Whether each of up to 100 users (`userIds`, comma-separated) is online; users you share no room with are left out', access: 'user', query: PresenceQuery,
    responses: { 200: { description: 'Their presence, in the order asked.', schema: PresencesAnswer } } },

  { method: 'post', path: '/v1/rooms', tag: 'rooms', summary: 'Open a direct room or create a group room', access: 'user', body: CreateRoomBody,
    responses: { 200: { description: 'The direct room existed already.', schema: RoomAnswer }, 201: { description: 'Created.', schema: RoomAnswer } },
    errors: ['user_not_found', 'room_full', 'rate_limited'] },
  { method: 'get', path: '/v1/rooms', tag: 'rooms', summary: 'Your rooms, with last message and unread count', access: 'user',
    responses: { 200: { description: 'Your rooms.', schema: RoomList } } },
  { method: 'get', path: '/v1/rooms/unread', tag: 'read state', summary: 'Unread counts of your rooms', access: 'user',
    responses: { 200: { description: 'Counts.', schema: UnreadAnswer } } },
  { method: 'get', path: '/v1/rooms/:roomId', tag: 'rooms', summary: 'One of your rooms', access: 'user', params: RoomParam,
    responses: { 200: { description: 'The room.', schema: RoomAnswer } }, errors: ['room_not_found'] },
  { method: 'patch', path: '/v1/rooms/:roomId', tag: 'rooms', summary: 'Rename a group room (owner or admin)', access: 'user', params: RoomParam, body: RenameRoomBody,
    responses: { 200: { description: 'Renamed.', schema: RoomAnswer } }, errors: ['room_not_found', 'forbidden', 'direct_room', 'rate_limited'] },
  { method: 'delete', path: '/v1/rooms/:roomId', tag: 'rooms', summary: 'Delete a group room (owner)', access: 'user', params: RoomParam,
    responses: noContent, errors: ['room_not_found', 'forbidden', 'direct_room'] },
  { method: 'post', path: '/v1/rooms/:roomId/members', tag: 'rooms', summary: 'Add members (owner or admin)', access: 'user', params: RoomParam, body: AddMembersBody,
    responses: { 200: { description: 'The room after the change.', schema: AddMembersAnswer } }, errors: ['room_not_found', 'forbidden', 'direct_room', 'user_not_found', 'room_full', 'rate_limited'] },
  { method: 'delete', path: '/v1/rooms/:roomId/members/:userId', tag: 'rooms', summary: 'Remove a member, or leave (your own id)', access: 'user', params: MemberParam,
    responses: noContent, errors: ['room_not_found', 'forbidden', 'direct_room', 'user_not_found', 'rate_limited'] },
  { method: 'put', path: '/v1/rooms/:roomId/members/:userId/role', tag: 'rooms', summary: "Set a member's role (owner)", access: 'user', params: MemberParam, body: SetRoleBody,
    responses: { 200: { description: 'The room after the change.', schema: RoomAnswer } }, errors: ['room_not_found', 'forbidden', 'direct_room', 'user_not_found', 'rate_limited'] },

  { method: 'get', path: '/v1/rooms/:roomId/messages', tag: 'messages', summary: 'A page of history (`before`/`after` a message number)', access: 'user', params: RoomParam, query: HistoryQuery,
    responses: { 200: { description: 'The page, oldest first.', schema: HistoryPage } }, errors: ['room_not_found'] },
  { method: 'post', path: '/v1/rooms/:roomId/messages', tag: 'messages', summary: 'Send a message (the same path as an MQTT publish)', access: 'user', params: RoomParam, body: PostMessageBody,
    responses: { 200: { description: 'A resend of a stored message (same `id`).', schema: MessageAnswer }, 201: { description: 'Stored and delivered.', schema: MessageAnswer } },
    errors: ['room_not_found', 'rate_limited', 'server_busy'] },
  { method: 'patch', path: '/v1/rooms/:roomId/messages/:messageId', tag: 'messages', summary: 'Edit your own message', access: 'user', params: MessageParam, body: EditMessageBody,
    responses: { 200: { description: 'Edited.', schema: MessageAnswer } }, errors: ['room_not_found', 'message_not_found', 'not_message_sender', 'message_deleted', 'rate_limited'] },
  { method: 'delete', path: '/v1/rooms/:roomId/messages/:messageId', tag: 'messages', summary: 'Delete your own message', access: 'user', params: MessageParam,
    responses: { 200: { description: 'Deleted (body null).', schema: MessageAnswer } }, errors: ['room_not_found', 'message_not_found', 'not_message_sender', 'rate_limited'] },
  { method: 'put', path: '/v1/rooms/:roomId/read', tag: 'read state', summary: 'Move your read position (never backwards)', access: 'user', params: RoomParam, body: ReadBody,
    responses: { 200: { description: 'Your read position.', schema: ReadAnswer } }, errors: ['room_not_found', 'message_not_found'] },
  { method: 'post', path: '/v1/rooms/:roomId/typing', tag: 'read state', summary: 'Tell the room you are typing', access: 'user', params: RoomParam,
    responses: { 200: { description: 'Whether a signal went out (throttled otherwise).', schema: TypingAnswer } }, errors: ['room_not_found'] },
  { method: 'post', path: '/v1/sync', tag: 'messages', summary: 'Catch up after a reconnect: what is new in each of your rooms', access: 'user', body: SyncBody,
    responses: { 200: { description: 'New messages per room, and rooms you are no longer in.', schema: SyncAnswer } } },
  { method: 'get', path: '/v1/rooms/:roomId/messages/search', tag: 'search', summary: 'Search one room', access: 'user', params: RoomParam, query: SearchQuery,
    responses: { 200: { description: 'Matches, newest first.', schema: SearchPage } }, errors: ['room_not_found'] },
  { method: 'get', path: '/v1/messages/search', tag: 'search', summary: 'Search all your rooms', access: 'user', query: SearchQuery,
    responses: { 200: { description: 'Matches, newest first.', schema: SearchPage } } },
]
