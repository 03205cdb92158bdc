import type { ChatMessage } from './chat-types.ts'

interface RoomState {
  /** The highest message number emitted (or known to the app) in this room. */
  lastSeen: number
  /** Catching up: live messages wait in `buffer` until the catch-up is in. */
  held: boolean
  buffer: Map<number, ChatMessage>
}

/**
 * Puts each room's messages in order and drops repeats. Message numbers are
 * per room and have no gaps (docs/PROTOCOL.md), so a message is emitted only
 * once every lower number has been: one that arrives early waits, and the
 * caller is told of the gap so it can fetch what is missing. While a room is
 * held (catching up after a reconnect), live messages wait too.
 */
export class RoomSequencer {
  readonly #rooms = new Map<string, RoomState>()
  readonly #emit: (message: ChatMessage) => void

  constructor(emit: (message: ChatMessage) => void) {
    this.#emit = emit
  }

  /** Starts following `roomId` after message `lastSeen`; a room already followed is left as it is. */
  track(roomId: string, lastSeen: number): void {
    if (!this.#rooms.has(roomId)) this.#rooms.set(roomId, { lastSeen, held: false, buffer: new Map() })
  }

  /** Stops following `roomId`. */
  forget(roomId: string): void {
    this.#rooms.delete(roomId)
  }

  /** Whether `roomId` is followed. */
  has(roomId: string): boolean {
    return this.#rooms.has(roomId)
  }

  /** Each followed room's last emitted number (what `POST /v1/sync` wants). */
  positions(roomIds: Iterable<string> = this.#rooms.keys()): Record<string, number> {
    const out: Record<string, number> = {}
    for (const roomId of roomIds) {
      const room = this.#rooms.get(roomId)
      if (room) out[roomId] = room.lastSeen
    }
    return out
  }

  /** Makes live messages of `roomIds` wait until `release`. */
  hold(roomIds: Iterable<string>): void {
    for (const roomId of roomIds) {
      const room = this.#rooms.get(roomId)
      if (room) room.held = true
    }
  }

  /**
   * A message from anywhere (live, catch-up, a REST answer). Returns 'gap'
   * when it had to wait for lower numbers that have not arrived.
   */
  offer(message: ChatMessage): 'emitted' | 'dropped' | 'waiting' | 'gap' {
    const room = this.#rooms.get(message.roomId)
    if (!room || message.id <= room.lastSeen) return 'dropped'
    room.buffer.set(message.id, message)
    if (room.held) return 'waiting'
    this.#drain(room, false)
    return room.buffer.size > 0 ? 'gap' : 'emitted'
  }

  /**
   * Ends a hold: emits what waited, in order. With `force` (the catch-up
   * found nothing to fill a gap), emits past gaps too rather than stall.
   * Returns whether a gap is left.
   */
  release(roomId: string, force: boolean): boolean {
    const room = this.#rooms.get(roomId)
    if (!room) return false
    room.held = false
    this.#drain(room, force)
    return room.buffer.size > 0
  }

  /** Whether `roomId` has messages waiting behind a gap. */
  hasGap(roomId: string): boolean {
    const room = this.#rooms.get(roomId)
    return room !== undefined && !room.held && room.buffer.size > 0
  }

  #drain(room: RoomState, force: boolean): void {
    const ids = [...room.buffer.keys()].sort((a, b) => a - b)
    for (const id of ids) {
      const message = room.buffer.get(id)!
      if (id <= room.lastSeen) {
        room.buffer.delete(id)
        continue
      }
      if (id !== room.lastSeen + 1 && !force) return
      room.buffer.delete(id)
      room.lastSeen = id
      this.#emit(message)
    }
  }
}
