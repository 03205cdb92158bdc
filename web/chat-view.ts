import type { ChatClient, ChatMessage, ChatRoom, ChatUser } from '../client/index.ts'
import { Conversation } from './conversation.ts'
import { byId, h } from './dom.ts'
import { RoomList, type RoomEntry } from './room-list.ts'

/**
 * The signed-in page: wires the SDK's events to the room list, the open
 * conversation, presence dots and the typing line, and the sidebar's user
 * search to opening a direct room.
 */
export class ChatView {
  readonly #client: ChatClient
  readonly #me: ChatUser
  readonly #rooms = new Map<string, RoomEntry>()
  readonly #online = new Set<string>()
  readonly #list: RoomList
  readonly #conversation: Conversation
  /** The room list's reload in flight, and whether another was asked for meanwhile (see {@link loadRooms}). */
  #loading: Promise<void> | undefined
  #reloadAgain = false
  #typingTimer: ReturnType<typeof setTimeout> | undefined

  constructor(client: ChatClient, me: ChatUser) {
    this.#client = client
    this.#me = me
    this.#list = new RoomList((roomId) => void this.#open(roomId))
    this.#conversation = new Conversation(client)
  }

  /** Loads the rooms and starts listening. */
  start(): void {
    byId('me-name').textContent = this.#me.displayName
    const c = this.#client
    c.on('status', (s) => { byId('conn-state').className = `dot ${s.state}`; if (s.state === 'online') void this.#loadRooms() })
    c.on('message', (m) => this.#onMessage(m))
    c.on('edit', ({ message }) => this.#conversation.show(message))
    c.on('delete', ({ roomId, id }) => void this.#refreshRoom(roomId, id))
    c.on('receipt', (r) => this.#onReceipt(r.roomId, r.userId, r.lastReadId))
    c.on('presence', (p) => { if (p.online) this.#online.add(p.userId); else this.#online.delete(p.userId); this.#render() })
    c.on('typing', (e) => this.#onTyping(e.roomId, e.userId))
    c.on('membership', () => void this.#loadRooms())
    this.#wireSearch()
    byId<HTMLFormElement>('composer').addEventListener('submit', (event) => {
      event.preventDefault()
      const input = byId<HTMLInputElement>('composer-input')
      const body = input.value.trim()
      if (!body) return
      input.value = ''
      void this.#conversation.send(body, crypto.getRandomValues(new Uint32Array(4)).join('-'))
    })
    byId('composer-input').addEventListener('input', () => { if (this.#conversation.roomId) c.typing(this.#conversation.roomId) })
  }

  /**
   * Reloads the room list. Calls while a reload runs fold into one more
   * after it: the messages of a room not yet listed that arrive together
   * (say, released at once after a catch-up) cost one reload, not one each.
   */
  #loadRooms(): Promise<void> {
    if (this.#loading) {
      this.#reloadAgain = true
      return this.#loading
    }
    this.#loading = (async () => {
      do {
        this.#reloadAgain = false
        await this.#fetchRooms().catch((err: unknown) => console.warn('mqchat: loading the rooms failed', err))
      } while (this.#reloadAgain)
    })().finally(() => { this.#loading = undefined })
    return this.#loading
  }

  async #fetchRooms(): Promise<void> {
    const rooms = await this.#client.api.rooms()
    this.#rooms.clear()
    for (const room of rooms) this.#rooms.set(room.id, { room, peerId: room.type === 'direct' ? room.members.find((m) => m.id !== this.#me.id)?.id ?? null : null })
    const peers = [...this.#rooms.values()].map((e) => e.peerId).filter((id): id is string => id !== null)
    // One request per 100 peers; a refusal leaves the dots as the live presence events last set them.
    const states = await this.#client.api.presenceOf(peers).catch(() => [])
    for (const state of states) if (state.online) this.#online.add(state.userId); else this.#online.delete(state.userId)
    const active = this.#conversation.roomId ? this.#rooms.get(this.#conversation.roomId) : undefined
    if (active) this.#conversation.refresh(active.room)
    this.#render()
  }

  async #open(roomId: string): Promise<void> {
    const entry = this.#rooms.get(roomId)
    if (!entry) return
    byId('composer').hidden = false
    byId('typing').textContent = ''
    await this.#conversation.open(entry.room)
    this.#markRead(entry.room)
    this.#render()
    byId('composer-input').focus()
  }

  #onMessage(message: ChatMessage): void {
    const entry = this.#rooms.get(message.roomId)
    if (!entry) return void this.#loadRooms()
    // A reload in flight may have been answered before this message was stored, and would then replace
    // the room with its older state: ask for one more after it.
    if (this.#loading) this.#reloadAgain = true
    const room = entry.room
    room.lastMessage = message
    room.lastMessageId = Math.max(room.lastMessageId, message.id)
    room.lastMessageAt = message.createdAt
    this.#conversation.show(message)
    if (message.senderId === this.#me.id) {
      // Nothing unread.
    } else if (this.#conversation.roomId === room.id && document.visibilityState === 'visible') this.#markRead(room)
    else room.unreadCount++
    if (message.senderId !== this.#me.id && this.#conversation.roomId === room.id) byId('typing').textContent = ''
    this.#render()
  }

  #markRead(room: ChatRoom): void {
    const me = room.members.find((m) => m.id === this.#me.id)
    room.unreadCount = 0
    if (!me || room.lastMessageId <= me.lastReadId) return
    me.lastReadId = room.lastMessageId
    void this.#client.markRead(room.id, room.lastMessageId).catch(() => {})
  }

  #onReceipt(roomId: string, userId: string, lastReadId: number): void {
    const member = this.#rooms.get(roomId)?.room.members.find((m) => m.id === userId)
    if (member) member.lastReadId = Math.max(member.lastReadId, lastReadId)
    if (this.#conversation.roomId === roomId) this.#conversation.renderReceipts()
  }

  #onTyping(roomId: string, userId: string): void {
    if (userId === this.#me.id || this.#conversation.roomId !== roomId) return
    const name = this.#rooms.get(roomId)?.room.members.find((m) => m.id === userId)?.displayName ?? 'Someone'
    byId('typing').textContent = `${name} is typing…`
    clearTimeout(this.#typingTimer)
    this.#typingTimer = setTimeout(() => { byId('typing').textContent = '' }, 4000)
  }

  async #refreshRoom(roomId: string, id: number): Promise<void> {
    const page = await this.#client.api.history(roomId, { after: id - 1, limit: 1 })
    for (const message of page.messages) this.#conversation.show(message)
  }

  #title(entry: RoomEntry): string {
    if (entry.room.name) return entry.room.name
    return entry.room.members.filter((m) => m.id !== this.#me.id).map((m) => m.displayName).join(', ') || 'Just me'
  }

  #render(): void {
    const entries = [...this.#rooms.values()]
    this.#list.render(entries, this.#conversation.roomId, (id) => this.#online.has(id), (e) => this.#title(e))
    const active = this.#conversation.roomId ? this.#rooms.get(this.#conversation.roomId) : undefined
    if (!active) return
    byId('conv-title').textContent = this.#title(active)
    byId('conv-presence').className = `dot${active.peerId && this.#online.has(active.peerId) ? ' online' : ''}`
  }

  #wireSearch(): void {
    const input = byId<HTMLInputElement>('user-search')
    const results = byId<HTMLUListElement>('search-results')
    input.addEventListener('input', async () => {
      const q = input.value.trim()
      if (!q) return results.replaceChildren()
      const users = (await this.#client.api.findUsers(q, 10).catch(() => [])).filter((u) => u.id !== this.#me.id)
      if (input.value.trim() !== q) return
      results.replaceChildren(...users.map((u) => h('li', { 'data-user-id': u.id, onclick: () => void this.#openWith(u) }, `${u.displayName} (@${u.username})`)))
    })
  }

  async #openWith(user: ChatUser): Promise<void> {
    const room = await this.#client.openDirectRoom(user.id)
    byId<HTMLInputElement>('user-search').value = ''
    byId('search-results').replaceChildren()
    this.#rooms.set(room.id, { room, peerId: user.id })
    await this.#loadRooms()
    await this.#open(room.id)
  }
}
