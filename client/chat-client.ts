import type { MqttClient } from 'mqtt'
import type { BackoffOptions } from './backoff-delay.ts'
import { ChatApiError } from './chat-api-error.ts'
import type { ChatEvents, ChatMessage, ChatRoom, ConnectionState } from './chat-types.ts'
import { Connection } from './connection.ts'
import { newClientMsgId } from './new-client-msg-id.ts'
import { Outbox } from './outbox.ts'
import { RestClient } from './rest-client.ts'
import { RoomFollower } from './room-follower.ts'
import { routeEvent } from './route-event.ts'
import { SendQueue } from './send-queue.ts'
import { TokenSource, type TokenOptions } from './token-source.ts'
import { TypedEmitter } from './typed-emitter.ts'

/** Options of `connect`. */
export interface ConnectOptions extends TokenOptions {
  /** MQTT URL: `ws://host:8080/mqtt` in a browser, `mqtt://host:1883` or a WebSocket URL in Node. */
  url: string
  /** REST API origin, e.g. `http://host:3000` ('' in a page served by the API). */
  apiUrl: string
  /** MQTT client id (default: random per client); the server scopes it to the user. */
  clientId?: string
  /** MQTT keepalive in seconds (default 30): a silent connection is noticed within 1.5x. */
  keepaliveSeconds?: number
  connectTimeoutMs?: number
  backoff?: BackoffOptions
  /** After a PUBACK, how long to wait for the message's echo before asking REST for its number (default 3000). */
  echoTimeoutMs?: number
  /** How long a message that came early waits for the ones before it before they are fetched (default 500). */
  gapWaitMs?: number
}

/**
 * An mqchat client: one MQTT connection kept open, messages per room in
 * order and once each, sends that survive disconnects. Make one with
 * `connect`. See README.md ("Client SDK").
 */
export class ChatClient extends TypedEmitter<ChatEvents> {
  /** The REST API, authenticated as this client's user. */
  readonly api: RestClient
  /** The user this client acts as. */
  readonly userId: string
  readonly #connection: Connection
  readonly #outbox = new Outbox()
  readonly #rooms: RoomFollower
  readonly #sender: SendQueue
  readonly #typingSentAt = new Map<string, number>()
  #mqtt: MqttClient | undefined
  #state: ConnectionState = 'connecting'

  /** Use `connect`, which fetches the first token. */
  constructor(options: ConnectOptions, tokens: TokenSource) {
    super()
    this.userId = tokens.userId()
    this.api = new RestClient(options.apiUrl, () => tokens.current())
    this.#rooms = new RoomFollower(this.api, this.#outbox, (message) => this.emit('message', message), options.gapWaitMs ?? 500)
    this.#sender = new SendQueue(this.#outbox, this.api, options.echoTimeoutMs ?? 3000, (message) => this.#rooms.receive(message))
    this.#connection = new Connection({
      url: options.url, tokens, clientId: options.clientId ?? `sdk-${newClientMsgId().slice(0, 12)}`,
      keepaliveSeconds: options.keepaliveSeconds ?? 30, connectTimeoutMs: options.connectTimeoutMs ?? 10_000, backoff: options.backoff ?? {},
      onOpen: (client, generation) => this.#open(client, generation),
      onClose: () => { this.#mqtt = undefined; this.#rooms.offline(); this.#sender.offline() },
      onMessage: (topic, payload) => this.#onMessage(topic, payload),
      onStatus: (status) => { this.#state = status.state; this.emit('status', status) },
      onError: (error) => this.emit('error', error),
    })
    this.#connection.start()
  }

  /** The connection's state now. */
  get state(): ConnectionState {
    return this.#state
  }

  /** Messages sent and not yet known stored. */
  get pendingCount(): number {
    return this.#outbox.size
  }

  /**
   * Sends `body` to `roomId`. Resolves with the stored message (its `id` is
   * the server's number) once the server has stored it; while offline it
   * waits in the outbox and goes out on reconnect under the same client
   * message id, so it is stored once. Rejects with a `ChatApiError` when
   * the server refuses it for good (or on `close`).
   */
  send(roomId: string, body: string, options: { clientMsgId?: string } = {}): Promise<ChatMessage> {
    const promise = this.#outbox.add(roomId, options.clientMsgId ?? newClientMsgId(), body)
    this.#sender.flush()
    return promise
  }

  /** Marks `roomId` read up to message `id` (members get a receipt). */
  async markRead(roomId: string, id: number): Promise<void> {
    const payload = JSON.stringify({ type: 'read', lastReadId: id })
    if (this.#mqtt) {
      try {
        return void (await this.#mqtt.publishAsync(`chat/${roomId}/events`, payload, { qos: 1 }))
      } catch {
        // The connection dropped before the PUBACK: REST does the same, and marking twice is harmless.
      }
    }
    await this.api.markRead(roomId, id)
  }

  /** Tells `roomId` the user is typing; call on each keystroke (sent at most every 1.5 s). */
  typing(roomId: string): void {
    const now = Date.now()
    if (!this.#mqtt || now - (this.#typingSentAt.get(roomId) ?? 0) < 1500) return
    this.#typingSentAt.set(roomId, now)
    this.#mqtt.publish(`chat/${roomId}/events`, JSON.stringify({ type: 'typing' }), { qos: 0 })
  }

  /** Opens (or finds) the direct room with `userId` and follows it. */
  async openDirectRoom(userId: string): Promise<ChatRoom> {
    const room = await this.api.openDirectRoom(userId)
    await this.follow(room.id, room.lastMessageId)
    return room
  }

  /**
   * Follows a room the client did not learn of by itself (one the user just
   * created): subscribes and emits its messages after `lastSeen`.
   */
  follow(roomId: string, lastSeen: number): Promise<void> {
    return this.#rooms.follow(roomId, lastSeen)
  }

  /** The last message number emitted per followed room. */
  positions(): Record<string, number> {
    return this.#rooms.positions()
  }

  /** Closes the connection; messages still in the outbox are rejected with `closed`. */
  async close(): Promise<void> {
    this.#rooms.close()
    this.#sender.close()
    await this.#connection.stop()
    this.#outbox.failAll(new ChatApiError('closed', 'The client was closed before the message was stored.'))
  }

  /** Each new connection: subscribe, learn the rooms, catch up, then go live and flush the outbox. */
  async #open(client: MqttClient, generation: number): Promise<void> {
    await client.subscribeAsync(`user/${this.userId}/#`, { qos: 1 })
    const rooms = await this.api.rooms()
    this.#mqtt = client
    this.emit('status', { state: (this.#state = 'catching-up') })
    await this.#rooms.resume(client, rooms)
    this.emit('status', { state: (this.#state = 'online') })
    this.#sender.online(client, generation, this.userId)
  }

  #onMessage(topic: string, payload: Uint8Array): void {
    routeEvent(topic, payload, {
      message: (message) => this.#rooms.receive(message),
      emit: (event, data) => this.emit(event, data as never),
      serverError: (error) => { this.emit('error', error); this.#sender.refused(error) },
      joined: (room) => void this.follow(room.id, room.lastMessageId),
      left: (roomId) => this.#rooms.unfollow(roomId),
    })
  }
}
