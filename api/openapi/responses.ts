import { z } from 'zod'
import { ERROR_CATALOGUE, type ErrorCode } from '../../shared/errors.ts'

/*
 * What the REST API answers, as zod schemas: the OpenAPI document is
 * generated from them, and test/api/openapi.test.ts checks real answers
 * against them, so they cannot drift from what the routes send.
 */

const id = z.string().describe('A 12-character id')
const timestamp = z.iso.datetime({ offset: true })

/** A user as others see them. */
export const PublicUser = z.object({ id, username: z.string(), displayName: z.string() })

/** A stored message, as subscribers and history pages see it (docs/PROTOCOL.md). */
export const MessageEnvelope = z.object({
  id: z.number().int().positive().describe('The message number, counting from 1 in each room'),
  roomId: id,
  senderId: id,
  clientMsgId: z.string(),
  body: z.string().nullable().describe('Null once the message is deleted'),
  createdAt: timestamp,
  editedAt: timestamp.optional(),
  deletedAt: timestamp.optional(),
})

/** A room as one of its members sees it. */
export const RoomView = z.object({
  id,
  type: z.enum(['direct', 'group']),
  name: z.string().nullable(),
  members: z.array(PublicUser.extend({ role: z.enum(['owner', 'admin', 'member']), lastReadId: z.number().int().min(0) })),
  lastMessageId: z.number().int().min(0),
  lastMessage: MessageEnvelope.nullable(),
  unreadCount: z.number().int().min(0),
  createdAt: timestamp,
  lastMessageAt: timestamp.nullable(),
})

/** `{room}` */
export const RoomAnswer = z.object({ room: RoomView })

/** `{message}` */
export const MessageAnswer = z.object({ message: MessageEnvelope })

/** A page of history. */
export const HistoryPage = z.object({ messages: z.array(MessageEnvelope), hasMore: z.boolean() })

/** A page of search results. */
export const SearchPage = z.object({ messages: z.array(MessageEnvelope), nextCursor: z.string().nullable() })

/** `POST /v1/auth/login` */
export const LoginAnswer = z.object({ accessToken: z.string(), tokenType: z.literal('Bearer'), expiresIn: z.number().int().positive(), user: PublicUser })

/** `{user}` */
export const UserAnswer = z.object({ user: PublicUser })

/** `GET /v1/users` */
export const UserList = z.object({ users: z.array(PublicUser) })

/** The public key set that verifies access tokens (RFC 7517). */
export const KeySet = z.object({ keys: z.array(z.object({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.literal('sig') }).loose()) })

/** `GET /v1/rooms` */
export const RoomList = z.object({ rooms: z.array(RoomView) })

/** `GET /v1/rooms/unread` */
export const UnreadAnswer = z.object({ rooms: z.array(z.object({ roomId: id, unreadCount: z.number().int().min(0) })), total: z.number().int().min(0) })

/** `PUT /v1/rooms/:roomId/read` */
export const ReadAnswer = z.object({ roomId: id, lastReadId: z.number().int().min(0) })

/** `POST /v1/rooms/:roomId/typing`: false when throttled (nothing was sent). */
export const TypingAnswer = z.object({ sent: z.boolean() })

/** `POST /v1/sync` */
export const SyncAnswer = z.object({ rooms: z.record(z.string(), HistoryPage), removedRoomIds: z.array(id) })

/** `POST /v1/rooms/:roomId/members` */
export const AddMembersAnswer = z.object({ room: RoomView, addedUserIds: z.array(id) })

const PresenceView = z.object({ userId: id, online: z.boolean(), lastSeenAt: timestamp.nullable() })

/** `GET /v1/users/:userId/presence` */
export const PresenceAnswer = z.object({ presence: PresenceView })

/** `GET /v1/presence` */
export const PresencesAnswer = z.object({ presences: z.array(PresenceView) })

/** Every error answer: a code from the one catalogue (docs/ERRORS.md). */
export function errorAnswer(codes: readonly ErrorCode[]) {
  return z.object({
    error: z.object({
      code: z.enum(codes as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
}

/** The HTTP status of each code, from the catalogue. */
export const statusOf = (code: ErrorCode): number => ERROR_CATALOGUE[code].status
