/**
 * What the mqchat server sends and answers, as the SDK sees it
 * (docs/PROTOCOL.md). Kept here, free of server imports, so the SDK
 * bundles for the browser on its own.
 */

/** A stored message: the envelope on `chat/<roomId>/<senderId>`, in history and in sync. */
export interface ChatMessage {
  /** The message's number in its room: 1, 2, 3, ... with no gaps. */
  id: number
  roomId: string
  senderId: string
  /** The sender's own id for the message (the SDK makes one per `send`). */
  clientMsgId: string
  /** The text; null once deleted. */
  body: string | null
  createdAt: string
  editedAt?: string
  deletedAt?: string
}

/** A user as the REST API shows one. */
export interface ChatUser {
  id: string
  username: string
  displayName: string
}

/** A member of a room: the user, their role and read position. */
export interface ChatMember extends ChatUser {
  role: 'owner' | 'admin' | 'member'
  lastReadId: number
}

/** A room as its member sees it (`GET /v1/rooms`). */
export interface ChatRoom {
  id: string
  type: 'direct' | 'group'
  name: string | null
  members: ChatMember[]
  lastMessageId: number
  lastMessage: ChatMessage | null
  unreadCount: number
  createdAt: string
  lastMessageAt: string | null
}

/** A change of someone's presence (`user/<me>/presence`). */
export interface PresenceChange {
  userId: string
  online: boolean
  lastSeenAt: string | null
}

/** Membership changes: events of a room's topic and of `user/<me>/rooms`. */
export type MembershipChange =
  | { type: 'members_added'; roomId: string; userIds: string[]; byUserId: string }
  | { type: 'member_removed'; roomId: string; userId: string; byUserId: string }
  | { type: 'member_role'; roomId: string; userId: string; role: ChatMember['role']; byUserId: string }
  | { type: 'room_renamed'; roomId: string; name: string; byUserId: string }
  | { type: 'room_deleted'; roomId: string; byUserId: string }
  | { type: 'room_joined'; roomId: string; room: ChatRoom; byUserId: string }
  | { type: 'room_left'; roomId: string; reason: 'left' | 'removed' | 'deleted'; byUserId: string }

/** Connection state, as `status` events report it. */
export type ConnectionState = 'connecting' | 'catching-up' | 'online' | 'offline' | 'closed'

/** Every event a `ChatClient` emits, with its payload. */
export interface ChatEvents {
  /** A new message, per room in number order, each once (live, or from catch-up after a reconnect). */
  message: ChatMessage
  edit: { roomId: string; message: ChatMessage }
  delete: { roomId: string; id: number; deletedAt: string }
  /** A member's read position moved forward. */
  receipt: { roomId: string; userId: string; lastReadId: number }
  presence: PresenceChange
  typing: { roomId: string; userId: string }
  membership: MembershipChange
  /** A refusal reported by the server (`user/<me>/errors`) or a failure of the SDK itself. */
  error: { code: string; message: string; clientMsgId?: string; topic?: string; retryAfterMs?: number }
  status: { state: ConnectionState; attempt?: number; delayMs?: number }
}
