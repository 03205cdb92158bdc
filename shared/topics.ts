import { isId } from './ids.ts'

/**
 * The MQTT topic space (docs/PROTOCOL.md):
 * - `chat/<roomId>/<senderId>`: a room's messages, published by their sender;
 * - `chat/<roomId>/events`: the room's other events (receipts, typing, edits,
 *   deletes, membership), to and from its members;
 * - `user/<userId>/<stream>`: events private to one user (`errors`, `rooms`, `presence`).
 * Nothing else exists; the broker refuses every other topic and filter.
 */
export const CHAT_PREFIX = 'chat'
export const USER_PREFIX = 'user'
/** The last level of a room's event topic; never an id (ids are 12 characters). */
export const ROOM_EVENTS_LEVEL = 'events'

/** The private streams of a user. */
export type UserStream = 'errors' | 'rooms' | 'presence'

/** The topic a member publishes to and on which the room's subscribers receive `senderId`'s messages. */
export function chatTopic(roomId: string, senderId: string): string {
  return `${CHAT_PREFIX}/${roomId}/${senderId}`
}

/** The topic of a room's events. */
export function roomEventsTopic(roomId: string): string {
  return `${CHAT_PREFIX}/${roomId}/${ROOM_EVENTS_LEVEL}`
}

/** The topic of one of a user's private event streams. */
export function userTopic(userId: string, stream: UserStream): string {
  return `${USER_PREFIX}/${userId}/${stream}`
}

/** The room a `chat/<roomId>/<senderId>` or `chat/<roomId>/events` topic belongs to, or null. */
export function parseRoomTopic(topic: string): { roomId: string; senderId: string | null } | null {
  const levels = topic.split('/')
  if (levels.length !== 3 || levels[0] !== CHAT_PREFIX || !isId(levels[1]!)) return null
  const last = levels[2]!
  if (last === ROOM_EVENTS_LEVEL) return { roomId: levels[1]!, senderId: null }
  return isId(last) ? { roomId: levels[1]!, senderId: last } : null
}

/** The room and sender a publish topic names, or null when it is not `chat/<id>/<id>`. */
export function parseChatTopic(topic: string): { roomId: string; senderId: string } | null {
  const levels = topic.split('/')
  if (levels.length !== 3 || levels[0] !== CHAT_PREFIX) return null
  const [, roomId, senderId] = levels as [string, string, string]
  return isId(roomId) && isId(senderId) ? { roomId, senderId } : null
}

/** The user a `user/<userId>/<event>` topic belongs to, or null for any other topic. */
export function parseUserTopic(topic: string): { userId: string } | null {
  const levels = topic.split('/')
  if (levels.length !== 3 || levels[0] !== USER_PREFIX || !isId(levels[1]!)) return null
  return { userId: levels[1]! }
}

/** What a subscription filter asks for, once checked against the one shape each kind may take. */
export type SubscriptionTarget =
  | { kind: 'room'; roomId: string }
  | { kind: 'user'; userId: string }

/**
 * Classifies a subscription filter. Allowed: `chat/<roomId>/+`,
 * `chat/<roomId>/<senderId>`, `chat/<roomId>/events`, `user/<userId>/#`, `user/<userId>/+` and
 * `user/<userId>/<event>`. Every other filter (`#`, `chat/#`, `+/...`,
 * `$SYS/...`, a wildcard in the room or user level) gives null.
 */
export function parseSubscription(filter: string): SubscriptionTarget | null {
  const levels = filter.split('/')
  if (levels.length !== 3) return null
  const [prefix, id, last] = levels as [string, string, string]
  if (!isId(id)) return null
  if (prefix === CHAT_PREFIX && (last === '+' || last === ROOM_EVENTS_LEVEL || isId(last))) return { kind: 'room', roomId: id }
  if (prefix === USER_PREFIX && (last === '#' || last === '+' || /^[a-z]{1,32}$/.test(last))) return { kind: 'user', userId: id }
  return null
}
