import type { ChatRoom } from '../client/index.ts'
import { byId, h } from './dom.ts'

/** What the list shows of a room beyond the server's view of it. */
export interface RoomEntry {
  room: ChatRoom
  /** The other member of a direct room (for its name and presence dot). */
  peerId: string | null
}

/** The sidebar's room list: name, presence dot, last message and unread count, most recent first. */
export class RoomList {
  readonly #el = byId<HTMLUListElement>('room-list')
  readonly #select: (roomId: string) => void

  constructor(select: (roomId: string) => void) {
    this.#select = select
  }

  /** Redraws the list. */
  render(entries: RoomEntry[], activeId: string | null, online: (userId: string) => boolean, title: (entry: RoomEntry) => string): void {
    const sorted = [...entries].sort((a, b) => (b.room.lastMessageAt ?? b.room.createdAt).localeCompare(a.room.lastMessageAt ?? a.room.createdAt))
    this.#el.replaceChildren(...sorted.map((entry) => {
      const { room } = entry
      const last = room.lastMessage
      const preview = last ? (last.body ?? 'message deleted') : 'No messages yet'
      return h('li', { class: room.id === activeId ? 'active' : undefined, 'data-room-id': room.id, onclick: () => this.#select(room.id) },
        h('span', { class: `dot${entry.peerId && online(entry.peerId) ? ' online' : ''}`, title: entry.peerId ? 'presence' : undefined }),
        h('span', { class: 'name' }, title(entry)),
        room.unreadCount > 0 ? h('span', { class: 'badge', title: 'unread' }, room.unreadCount) : h('span'),
        h('span', { class: 'last' }, preview))
    }))
  }
}
