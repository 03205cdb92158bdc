import { z } from 'zod'
import { ChatError } from './errors.ts'
import type { MessageEnvelope } from './protocol.ts'
import type { MemberRole } from './db/schema.ts'
import type { RoomView } from './stores/room-store.ts'

/**
 * Events on `chat/<roomId>/events`, sent by the server to the room's
 * members. `byUserId` names who made a change. Typing is sent at QoS 0 and
 * never stored; everything else at QoS 1.
 */
export type RoomEvent =
  | { type: 'read'; roomId: string; userId: string; lastReadId: number }
  | { type: 'typing'; roomId: string; userId: string }
  | { type: 'edit'; roomId: string; message: MessageEnvelope }
  | { type: 'delete'; roomId: string; id: number; deletedAt: string }
  | { type: 'members_added'; roomId: string; userIds: string[]; byUserId: string }
  | { type: 'member_removed'; roomId: string; userId: string; byUserId: string }
  | { type: 'member_role'; roomId: string; userId: string; role: MemberRole; byUserId: string }
  | { type: 'room_renamed'; roomId: string; name: string; byUserId: string }
  | { type: 'room_deleted'; roomId: string; byUserId: string }

/** Events on `user/<userId>/rooms`: the user was added to a room, or is out of one. */
export type RoomsEvent =
  | { type: 'room_joined'; room: RoomView; byUserId: string }
  | { type: 'room_left'; roomId: string; reason: 'left' | 'removed' | 'deleted'; byUserId: string }

/** Events on `user/<userId>/presence`: someone who shares a room with the user came online or went offline. */
export interface PresenceEvent {
  type: 'presence'
  userId: string
  online: boolean
  /** When their last connection closed; null while online or if never seen. */
  lastSeenAt: string | null
}

/**
 * Notes every node of a cluster acts on (carried by the broker's message
 * routing, so through Redis when clustered). `membership` tells each node's
 * membership cache who joined or left a room, so a removed member stops
 * receiving it on every node at once. `evict_connections` closes connections
 * beyond a user's limit on whichever node holds them. `user_disabled` says an
 * admin disabled a user (each node closes the user's connections at once) or
 * enabled them again.
 */
export type ClusterNote =
  | { kind: 'membership'; roomId: string; added: string[]; removed: string[]; deleted: boolean }
  | { kind: 'evict_connections'; connectionIds: string[] }
  | { kind: 'user_disabled'; userId: string; disabled: boolean }

const messageNumber = z.number().int().positive()

/**
 * What a member may publish on `chat/<roomId>/events`: a read receipt, a
 * typing signal, or an edit or delete of one of their own messages.
 */
export const ClientRoomEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('read'), lastReadId: messageNumber }),
  z.object({ type: z.literal('typing') }),
  z.object({ type: z.literal('edit'), id: messageNumber, body: z.string() }),
  z.object({ type: z.literal('delete'), id: messageNumber }),
])
export type ClientRoomEvent = z.infer<typeof ClientRoomEvent>

/** Longest event payload read at all (an edit carries a body). */
const eventPayloadMax = (maxBodyBytes: number) => maxBodyBytes * 6 + 256

/** Parses an MQTT event payload; throws `validation_failed` or `payload_too_large`. */
export function parseClientRoomEvent(payload: Buffer, maxBodyBytes: number): ClientRoomEvent {
  if (payload.length > eventPayloadMax(maxBodyBytes)) throw new ChatError('payload_too_large', 'payload is over the limit.')
  let parsed: unknown
  try {
    parsed = JSON.parse(payload.toString('utf8'))
  } catch {
    throw new ChatError('validation_failed', 'payload is not JSON.')
  }
  const result = ClientRoomEvent.safeParse(parsed)
  if (!result.success) {
    throw new ChatError('validation_failed', 'An event is {"type": "read", "lastReadId"}, {"type": "typing"}, {"type": "edit", "id", "body"} or {"type": "delete", "id"}.')
  }
  return result.data
}
