import type { ChatEvents, ChatMessage, ChatRoom, MembershipChange } from './chat-types.ts'

/** Where `routeEvent` sends what it reads. */
export interface EventSink {
  message(message: ChatMessage): void
  emit<K extends keyof ChatEvents>(event: K, payload: ChatEvents[K]): void
  serverError(error: ChatEvents['error']): void
  joined(room: ChatRoom): void
  left(roomId: string): void
}

const MEMBERSHIP = new Set(['members_added', 'member_removed', 'member_role', 'room_renamed', 'room_deleted'])

/**
 * Reads one MQTT publish from the server (docs/PROTOCOL.md, "Topics") and
 * hands it on: room messages, room events (`chat/<roomId>/events`) and the
 * user's own streams (`errors`, `rooms`, `presence`). Anything unreadable
 * is ignored: a newer server may send more than this SDK knows.
 */
export function routeEvent(topic: string, payload: Uint8Array, sink: EventSink): void {
  const [prefix, id, last] = topic.split('/')
  let data: any
  try {
    data = JSON.parse(new TextDecoder().decode(payload))
  } catch {
    return
  }
  if (typeof data !== 'object' || data === null) return
  if (prefix === 'chat' && last !== 'events') return sink.message(data as ChatMessage)
  if (prefix === 'chat') return roomEvent(id!, data, sink)
  if (prefix !== 'user') return
  if (last === 'errors') return sink.serverError(data)
  if (last === 'presence') return sink.emit('presence', { userId: data.userId, online: data.online, lastSeenAt: data.lastSeenAt })
  if (last === 'rooms' && data.type === 'room_joined') {
    sink.joined(data.room)
    return sink.emit('membership', { ...data, roomId: data.room.id } as MembershipChange)
  }
  if (last === 'rooms' && data.type === 'room_left') {
    sink.left(data.roomId)
    return sink.emit('membership', data as MembershipChange)
  }
}

function roomEvent(roomId: string, data: any, sink: EventSink): void {
  switch (data.type) {
    case 'read': return sink.emit('receipt', { roomId, userId: data.userId, lastReadId: data.lastReadId })
    case 'typing': return sink.emit('typing', { roomId, userId: data.userId })
    case 'edit': return sink.emit('edit', { roomId, message: data.message })
    case 'delete': return sink.emit('delete', { roomId, id: data.id, deletedAt: data.deletedAt })
  }
  if (!MEMBERSHIP.has(data.type)) return
  if (data.type === 'room_deleted') sink.left(roomId)
  sink.emit('membership', data as MembershipChange)
}
