import type { MembershipCache } from '../chat/membership-cache.ts'
import type { Logger } from '../logger.ts'
import type { MessageEnvelope } from '../protocol.ts'
import type { PendingNote, PendingStore } from './push-pending.ts'
import type { PushStore } from './push-store.ts'

/** Stored messages waiting to be looked at; past it new ones get no push (the chat itself is unaffected). */
const BUFFER_MAX = 50_000
/** Messages looked at together: one membership pass, one settings query, one upsert. */
const BATCH_MAX = 1000

/** What {@link StoredMessages} reads and tells. */
export interface StoredMessagesDeps {
  members: MembershipCache
  store: PushStore
  pending: PendingStore
  /** Whether the user has a live connection anywhere (the presence registry). */
  isOnline: (userId: string) => Promise<boolean>
  /** Told the earliest time a recorded notification is due. */
  onDue: (at: Date) => void
  log: Logger
}

/**
 * The after-commit side of push: {@link add} only appends to a buffer,
 * worked off a `setImmediate` later in batches (never a query per message,
 * never before the PUBACK). Each batch finds, per room, the members other
 * than the sender who have a device subscribed, no do-not-disturb, have not
 * muted the room and are offline everywhere, and records them in the
 * durable collapse state (`push_pending`).
 */
export class StoredMessages {
  readonly #deps: StoredMessagesDeps
  #buffer: MessageEnvelope[] = []
  #draining: Promise<void> | null = null
  #dropped = 0

  constructor(deps: StoredMessagesDeps) {
    this.#deps = deps
  }

  /** Takes a newly stored message; returns at once. */
  add(message: MessageEnvelope): void {
    if (this.#buffer.length >= BUFFER_MAX) { this.#dropped++; return }
    this.#buffer.push(message)
    this.#draining ??= this.#drain()
  }

  /** Resolves once everything added so far is recorded (for shutdown). */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining
  }

  async #drain(): Promise<void> {
    // Off the acknowledgement path: the publish that added the message finishes first.
    await new Promise<void>((resolve) => setImmediate(resolve))
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, BATCH_MAX)
      try {
        await this.#record(batch)
      } catch (err) {
        this.#deps.log.warn({ err, messages: batch.length }, 'push notifications for stored messages not recorded')
      }
    }
    if (this.#dropped > 0) this.#deps.log.warn({ messages: this.#dropped }, 'push buffer full: messages got no push')
    this.#dropped = 0
    this.#draining = null
  }

  /** One batch: who should hear of which room's messages, recorded in the collapse state. */
  async #record(batch: readonly MessageEnvelope[]): Promise<void> {
    const { store, pending, isOnline, onDue } = this.#deps
    const notes: PendingNote[] = []
    for (const [roomId, messages] of byRoom(batch)) notes.push(...notesFor(roomId, messages, await this.#deps.members.members(roomId)))
    const byKey = new Map(notes.map((n) => [`${n.userId}\n${n.roomId}`, n]))
    const reachable = await store.reachable(notes)
    const online = new Map<string, boolean>()
    for (const { userId } of reachable) if (!online.has(userId)) online.set(userId, await isOnline(userId))
    const offline = reachable.filter((r) => !online.get(r.userId)).map((r) => byKey.get(`${r.userId}\n${r.roomId}`)!)
    const due = await pending.note(offline)
    if (due) onDue(due)
  }
}

/** The batch's messages per room, in number order. */
function byRoom(batch: readonly MessageEnvelope[]): Map<string, MessageEnvelope[]> {
  const rooms = new Map<string, MessageEnvelope[]>()
  for (const message of batch) {
    const list = rooms.get(message.roomId) ?? []
    list.push(message)
    rooms.set(message.roomId, list)
  }
  for (const list of rooms.values()) list.sort((a, b) => a.id - b.id)
  return rooms
}

/**
 * One note per member of the room who did not send every one of
 * `messages`: how many the others sent, and the latest of those. Linear in
 * members plus messages, so a burst in a large room stays cheap.
 */
function notesFor(roomId: string, messages: readonly MessageEnvelope[], members: ReadonlySet<string>): PendingNote[] {
  const sentBy = new Map<string, number>()
  for (const m of messages) sentBy.set(m.senderId, (sentBy.get(m.senderId) ?? 0) + 1)
  const notes: PendingNote[] = []
  for (const userId of members) {
    const count = messages.length - (sentBy.get(userId) ?? 0)
    if (count === 0) continue
    let i = messages.length - 1
    while (messages[i]!.senderId === userId) i--
    notes.push({ userId, roomId, count, lastSeq: messages[i]!.id, lastSenderId: messages[i]!.senderId })
  }
  return notes
}
