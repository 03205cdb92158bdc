import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
export { dropSchema } from '../helpers/node.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What one stubborn publisher sends: `ids` to `topic`, each with the body {@link bodyOf}. */
export interface PublisherOptions {
  /** Where to connect; asked again before every connection attempt (a restarted node has new ports). */
  url(): string | Promise<string>
  token: string
  topic: string
  ids: string[]
  /** Most QoS 1 publishes awaiting their PUBACK at once. */
  window: number
  /** Called on every PUBACK (for example to kill the node midway). */
  onAck?(id: string, acked: number): void
}

/** The body sent with client message id `id`, so a stored row can be checked whole. */
export const bodyOf = (id: string) => `body of ${id}: ${'x'.repeat(40)}`

/**
 * A client that keeps sending until every message is acknowledged, as a
 * chat app does: on a lost connection it reconnects (retrying while the node
 * is down) and resends every message without a PUBACK under the SAME client
 * message id. `acked` is exactly the set of ids that got a PUBACK.
 */
export class StubbornPublisher {
  readonly acked = new Set<string>()
  /** Connections made (1 plus reconnects). */
  connections = 0
  readonly #opts: PublisherOptions
  #stopped = false
  #client: MqttClient | undefined
  readonly done: Promise<void>

  constructor(opts: PublisherOptions) {
    this.#opts = opts
    this.done = this.#run()
  }

  /** Stops reconnecting and closes the connection (for teardown). */
  async stop(): Promise<void> {
    this.#stopped = true
    await this.#client?.endAsync(true).catch(() => {})
  }

  async #run(): Promise<void> {
    while (!this.#stopped && this.acked.size < this.#opts.ids.length) {
      try {
        this.#client = await mqtt.connectAsync(await this.#opts.url(), { username: '', password: this.#opts.token, reconnectPeriod: 0, connectTimeout: 3000, clean: true, log: () => {} })
      } catch {
        await sleep(200)
        continue
      }
      this.connections++
      await this.#pump(this.#client)
      await this.#client.endAsync(true).catch(() => {})
    }
  }

  /** Sends what is not acknowledged yet over `client`; resolves when all is acknowledged or the connection closes. */
  #pump(client: MqttClient): Promise<void> {
    const { ids, window, topic } = this.#opts
    const pending = ids.filter((id) => !this.acked.has(id))
    let inFlight = 0
    let closed = false
    return new Promise((resolve) => {
      const finish = () => {
        if (closed) return
        closed = true
        resolve()
      }
      const next = () => {
        while (!closed && inFlight < window && pending.length > 0) {
          const id = pending.shift()!
          inFlight++
          client.publish(topic, JSON.stringify({ id, body: bodyOf(id) }), { qos: 1 }, (err) => {
            inFlight--
            if (closed) return
            if (!err) {
              this.acked.add(id)
              this.#opts.onAck?.(id, this.acked.size)
            }
            if (this.acked.size === ids.length) finish()
            else next()
          })
        }
      }
      client.once('close', finish)
      client.on('error', () => {})
      next()
    })
  }
}

/** The rows of `schema`.messages, read straight from Postgres (not through the node or a proxy). */
export async function storedMessages(url: string, schema: string): Promise<Array<{ room_id: string; seq: number; sender_id: string; client_msg_id: string; body: string }>> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query(`SELECT room_id, seq::int AS seq, sender_id, client_msg_id, body FROM "${schema}".messages ORDER BY room_id, seq`)
    return rows
  } finally {
    await client.end()
  }
}

