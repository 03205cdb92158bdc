import type { ChatClient, ChatMessage, ChatRoom } from '../client/index.ts'
import { byId, h, timeOf } from './dom.ts'

/**
 * The open conversation: its messages (history on scroll-back, live ones
 * appended, each once by number), sends shown at once and confirmed when
 * stored, and "Read" under the newest of my messages the others have read.
 */
export class Conversation {
  readonly #list = byId<HTMLOListElement>('messages')
  readonly #client: ChatClient
  readonly #items = new Map<number | string, HTMLLIElement>()
  #room: ChatRoom | null = null
  #hasMore = false
  #loading = false

  constructor(client: ChatClient) {
    this.#client = client
    this.#list.addEventListener('scroll', () => { if (this.#list.scrollTop < 40) void this.#loadOlder() })
  }

  /** The room shown, if any. */
  get roomId(): string | null {
    return this.#room?.id ?? null
  }

  /** Shows `room`: its newest page of history, then live messages. */
  async open(room: ChatRoom): Promise<void> {
    this.#room = room
    this.#items.clear()
    this.#list.replaceChildren()
    const page = await this.#client.api.history(room.id, { limit: 30 })
    if (this.#room !== room) return
    this.#hasMore = page.hasMore
    for (const message of page.messages) this.show(message)
    this.#list.scrollTop = this.#list.scrollHeight
    this.renderReceipts()
  }

  /** Takes a fresher view of the open room (members' read positions) without reloading it. */
  refresh(room: ChatRoom): void {
    if (room.id !== this.#room?.id) return
    this.#room = room
    this.renderReceipts()
  }

  /** Adds or updates a message, in number order. */
  show(message: ChatMessage): void {
    if (message.roomId !== this.#room?.id) return
    const pending = this.#items.get(message.clientMsgId)
    if (pending && message.senderId === this.#client.userId) {
      this.#items.delete(message.clientMsgId)
      pending.remove()
    }
    const existing = this.#items.get(message.id)
    const item = this.#render(message)
    this.#items.set(message.id, item)
    if (existing) return existing.replaceWith(item)
    const atBottom = this.#list.scrollHeight - this.#list.scrollTop - this.#list.clientHeight < 60
    const next = [...this.#list.children].find((el) => Number((el as HTMLElement).dataset['id']) > message.id)
    this.#list.insertBefore(item, next ?? this.#firstPending())
    if (atBottom) this.#list.scrollTop = this.#list.scrollHeight
  }

  /** Shows a message being sent; it turns into the stored one (or is marked failed). */
  async send(body: string, clientMsgId: string): Promise<void> {
    const room = this.#room
    if (!room) return
    const item = h('li', { class: 'mine pending', 'data-client-msg-id': clientMsgId }, h('div', { class: 'body' }, body), h('div', { class: 'meta' }, 'sending…'))
    this.#items.set(clientMsgId, item)
    this.#list.append(item)
    this.#list.scrollTop = this.#list.scrollHeight
    try {
      this.show(await this.#client.send(room.id, body, { clientMsgId }))
      this.renderReceipts()
    } catch (err) {
      item.classList.replace('pending', 'failed')
      item.querySelector('.meta')!.textContent = `not sent: ${(err as Error).message}`
    }
  }

  /** Marks "Read" under my newest message that another member has read. */
  renderReceipts(): void {
    const room = this.#room
    if (!room) return
    const me = this.#client.userId
    const readUpTo = Math.max(0, ...room.members.filter((m) => m.id !== me).map((m) => m.lastReadId))
    let marked = false
    const ids = [...this.#items.keys()].filter((k): k is number => typeof k === 'number').sort((a, b) => b - a)
    for (const id of ids) {
      const item = this.#items.get(id)!
      const receipt = item.querySelector('.receipt')
      if (!item.classList.contains('mine') || !receipt) continue
      const read = !marked && id <= readUpTo
      receipt.textContent = read ? ' · Read' : ''
      if (read) marked = true
    }
  }

  #render(message: ChatMessage): HTMLLIElement {
    const mine = message.senderId === this.#client.userId
    const sender = this.#room?.members.find((m) => m.id === message.senderId)?.displayName ?? 'someone'
    const classes = [mine ? 'mine' : '', message.deletedAt ? 'deleted' : ''].filter(Boolean).join(' ')
    return h('li', { class: classes || undefined, 'data-id': message.id },
      h('div', { class: 'body' }, message.body ?? 'message deleted'),
      h('div', { class: 'meta' }, mine ? '' : `${sender} · `, timeOf(message.createdAt), message.editedAt ? ' · edited' : '', mine ? h('span', { class: 'receipt' }) : null))
  }

  #firstPending(): Element | null {
    return this.#list.querySelector('li.pending, li.failed')
  }

  async #loadOlder(): Promise<void> {
    const room = this.#room
    const first = [...this.#items.keys()].filter((k): k is number => typeof k === 'number').sort((a, b) => a - b)[0]
    if (!room || !this.#hasMore || this.#loading || first === undefined) return
    this.#loading = true
    try {
      const page = await this.#client.api.history(room.id, { before: first, limit: 30 })
      if (this.#room !== room) return
      const height = this.#list.scrollHeight
      for (const message of page.messages) this.show(message)
      this.#hasMore = page.hasMore
      this.#list.scrollTop += this.#list.scrollHeight - height
      this.renderReceipts()
    } finally {
      this.#loading = false
    }
  }
}
