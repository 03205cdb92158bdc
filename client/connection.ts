import mqtt, { type MqttClient } from 'mqtt'
import { backoffDelay, type BackoffOptions } from './backoff-delay.ts'
import type { ChatEvents } from './chat-types.ts'
import type { TokenSource } from './token-source.ts'

/** What a `Connection` needs. */
export interface ConnectionOptions {
  url: string
  tokens: TokenSource
  clientId: string
  keepaliveSeconds: number
  connectTimeoutMs: number
  backoff: BackoffOptions
  /** Sets up a new connection (subscribe, catch up, flush); throwing drops it and retries. */
  onOpen(client: MqttClient, generation: number): Promise<void>
  onClose(generation: number): void
  onMessage(topic: string, payload: Uint8Array): void
  onStatus(status: ChatEvents['status']): void
  onError(error: ChatEvents['error']): void
}

/** A connection that lasted this long resets the backoff. */
const STABLE_MS = 5000

/**
 * Keeps one MQTT connection open: a fresh MQTT.js client per attempt
 * (clean session; catch-up and the outbox cover what a session would), with
 * exponential backoff and jitter between attempts, MQTT keepalive, and a
 * reconnect with a new token shortly before the current one expires.
 */
export class Connection {
  readonly #o: ConnectionOptions
  #client: MqttClient | undefined
  #generation = 0
  #stopped = false
  #immediate = false
  #wake: (() => void) | undefined
  #refreshTimer: ReturnType<typeof setTimeout> | undefined
  #done: Promise<void> | undefined

  constructor(options: ConnectionOptions) {
    this.#o = options
  }

  /** Starts connecting (and reconnecting) until `stop`. */
  start(): void {
    this.#done ??= this.#loop()
  }

  /** Drops the current connection and reconnects at once (e.g. with a new token). */
  reconnect(): void {
    this.#immediate = true
    this.#client?.end(true)
    this.#wake?.()
  }

  /** Closes the connection for good. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#refreshTimer)
    this.#client?.end(true)
    this.#wake?.()
    await this.#done
  }

  async #loop(): Promise<void> {
    let attempt = 0
    while (!this.#stopped) {
      this.#o.onStatus({ state: 'connecting', attempt })
      const client = await this.#open().catch((err) => this.#refusal(err))
      if (client && !this.#stopped) {
        const openedAt = Date.now()
        const generation = ++this.#generation
        const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
        this.#client = client
        try {
          await this.#o.onOpen(client, generation)
          this.#scheduleRefresh()
        } catch (err) {
          this.#o.onError({ code: 'network', message: `Setting up the connection failed: ${(err as Error).message}` })
          client.end(true)
        }
        await closed
        this.#client = undefined
        clearTimeout(this.#refreshTimer)
        this.#o.onClose(generation)
        if (Date.now() - openedAt >= STABLE_MS) attempt = 0
      } else client?.end(true)
      if (this.#stopped) break
      const delayMs = this.#immediate ? 0 : backoffDelay(attempt++, this.#o.backoff)
      this.#immediate = false
      this.#o.onStatus({ state: 'offline', attempt, delayMs })
      await this.#sleep(delayMs)
    }
    this.#o.onStatus({ state: 'closed' })
  }

  async #open(): Promise<MqttClient> {
    const token = await this.#o.tokens.current()
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(this.#o.url, {
        clientId: this.#o.clientId, username: this.#o.tokens.userId(), password: token, protocolVersion: 4,
        clean: true, keepalive: this.#o.keepaliveSeconds, reconnectPeriod: 0, connectTimeout: this.#o.connectTimeoutMs, resubscribe: false,
      })
      // Errors after CONNACK end in 'close', which the loop handles; this listener keeps them from throwing.
      client.on('error', (err) => reject(err))
      client.once('close', () => reject(new Error('closed before CONNACK')))
      client.on('message', (topic, payload) => this.#o.onMessage(topic, payload))
      client.once('connect', () => resolve(client))
    })
  }

  #refusal(err: { code?: unknown; message?: string }): undefined {
    if (err.code === 4 || err.code === 5) {
      if (!this.#o.tokens.renewable) this.#stopped = true
      this.#o.tokens.refused()
      this.#o.onError({ code: 'unauthenticated', message: `The server refused the token (CONNACK ${err.code}).` })
    }
    return undefined
  }

  #scheduleRefresh(): void {
    const ms = this.#o.tokens.msUntilRefresh()
    if (ms === null) return
    this.#refreshTimer = setTimeout(() => {
      this.#o.tokens.refresh().then(() => this.reconnect(), (err: Error) => {
        this.#o.onError({ code: 'unauthenticated', message: `getToken failed: ${err.message}` })
      })
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)))
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() { clearTimeout(timer); resolve() }
      this.#wake = done
    })
  }
}
