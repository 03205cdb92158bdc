import type { ClusterNote, PresenceEvent, RoomEvent, RoomsEvent } from './events.ts'
import type { ErrorEvent, MessageEnvelope } from './protocol.ts'

/**
 * The realtime side as the domain sees it. The broker adapter implements it;
 * the services call it after a change is committed, whichever adapter asked
 * for the change.
 */
export interface Realtime {
  /** A stored message, to the room's subscribers. */
  deliver(message: MessageEnvelope): void
  /** An event on `chat/<roomId>/events` (typing at QoS 0, the rest at QoS 1). */
  roomEvent(event: RoomEvent): void
  /** An event on one of a user's private streams. */
  userEvent(userId: string, stream: 'rooms', event: RoomsEvent): void
  userEvent(userId: string, stream: 'presence', event: PresenceEvent): void
  userEvent(userId: string, stream: 'errors', event: ErrorEvent): void
  /** A note to every node of the cluster, this one included. */
  broadcast(note: ClusterNote): void
}
