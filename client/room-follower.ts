import type { MqttClient } from 'mqtt'
import { ChatApiError } from './chat-api-error.ts'
import type { ChatMessage, ChatRoom } from './chat-types.ts'
import type { Outbox } from './outbox.ts'
import type { RestClient } from './rest-client.ts'
import { RoomSequencer } from './room-sequencer.ts'

/**
 * The rooms a client follows: their subscriptions, and the catch-up that
 * makes each room's messages arrive complete, in order and once. After
 * every (re)connect, live messages wait while `POST /v1/sync` fetches what
 * was missed; a message that arrives ahead of a gap waits `gapWaitMs` for
 * the missing ones, which are then fetched from history.
 */
export class RoomFollower {
  readonly #api: RestClient
  readonly #outbox: Outbox
  readonly #sequencer: RoomSequencer
  readonly #gapWaitMs: number
  readonly #gapTimers = new Map<string, ReturnType<typeof setTimeout>>()
  #client: MqttClient | undefined

  constructor(api: RestClient, outbox: Outbox, emit: (message: ChatMessage) => void, gapWaitMs: number) {
    this.#api = api
    this.#outbox = outbox
    this.#sequencer = new RoomSequencer(emit)
    this.#gapWaitMs = gapWaitMs
  }

  /** The last message number emitted per followed room. */
  positions(): Record<string, number> {
    return this.#sequencer.positions()
  }

  /** A stored message from any source (live, catch-up, REST): settles a send and emits it in order. */
  receive(message: ChatMessage): void {
    this.#outbox.stored(message)
    if (this.#sequencer.offer(message) === 'gap') this.#scheduleGapFill(message.roomId)
  }

  /**
   * A new connection, with the user's rooms as the server lists them:
   * subscribe to each and catch up before letting live messages through. A
   * room seen for the first time starts at its newest message (older ones
   * are history, read with `api.history`).
   */
  async resume(client: MqttClient, rooms: ChatRoom[]): Promise<void> {
    this.#client = client
    const current = new Set(rooms.map((room) => room.id))
    for (const roomId of Object.keys(this.positions())) if (!current.has(roomId)) this.unfollow(roomId)
    for (const room of rooms) this.#sequencer.track(room.id, room.lastMessageId)
    this.#sequencer.hold(current)
    for (let i = 0; i < rooms.length; i += 100) {
      await client.subscribeAsync(rooms.slice(i, i + 100).map((room) => `chat/${room.id}/+`), { qos: 1 })
    }
    let pending = [...current]
    while (pending.length > 0) {
      const result = await this.#api.sync(this.#sequencer.positions(pending))
      for (const roomId of result.removedRoomIds) this.unfollow(roomId)
      const again: string[] = []
      for (const roomId of pending) {
        const page = result.rooms[roomId]
        for (const message of page?.messages ?? []) this.receive(message)
        if (page?.hasMore) again.push(roomId)
        else if (this.#sequencer.release(roomId, false)) this.#scheduleGapFill(roomId)
      }
      pending = again
    }
  }

  /** The connection is gone. */
  offline(): void {
    this.#client = undefined
  }

  /** Follows a room (joined, or created by the user): subscribes and emits its messages after `lastSeen`. */
  async follow(roomId: string, lastSeen: number): Promise<void> {
    if (this.#sequencer.has(roomId)) return
    this.#sequencer.track(roomId, lastSeen)
    await this.#client?.subscribeAsync(`chat/${roomId}/+`, { qos: 1 }).catch(() => {})
    await this.#fill(roomId)
  }

  /** Stops following a room the user is no longer in; its unsent messages fail. */
  unfollow(roomId: string): void {
    this.#sequencer.forget(roomId)
    this.#client?.unsubscribe(`chat/${roomId}/+`)
    for (const entry of this.#outbox.entries()) {
      if (entry.roomId === roomId) this.#outbox.fail(entry.clientMsgId, new ChatApiError('room_not_found', 'You are no longer in this room.'))
    }
  }

  /** Stops the gap timers. */
  close(): void {
    for (const timer of this.#gapTimers.values()) clearTimeout(timer)
  }

  /** One room's catch-up over the history route (cheaper than a sync of every room). */
  async #fill(roomId: string): Promise<void> {
    this.#sequencer.hold([roomId])
    try {
      for (let more = true; more && this.#sequencer.has(roomId);) {
        const page = await this.#api.history(roomId, { after: this.#sequencer.positions([roomId])[roomId] ?? 0, limit: 100 })
        for (const message of page.messages) this.receive(message)
        more = page.hasMore && page.messages.length > 0
      }
      this.#sequencer.release(roomId, true)
    } catch {
      // Offline or failing: keep what waits; the next try (timer or reconnect) fetches it.
      if (this.#sequencer.release(roomId, false)) this.#scheduleGapFill(roomId)
    }
  }

  #scheduleGapFill(roomId: string): void {
    if (this.#gapTimers.has(roomId)) return
    this.#gapTimers.set(roomId, setTimeout(() => {
      this.#gapTimers.delete(roomId)
      if (this.#sequencer.hasGap(roomId)) void this.#fill(roomId)
    }, this.#gapWaitMs))
  }
}
