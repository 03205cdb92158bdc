import type { Client } from 'aedes'

/** Who a connected MQTT client is, set once CONNECT is authenticated. */
export interface MqttSession {
  userId: string
  username: string
}

interface Entry extends MqttSession {
  /** The second (since the epoch) at whose sweep the client is closed. */
  expirySecond: number
}

/** How often clients whose token has expired are looked for. */
const SWEEP_MS = 1000

/**
 * Authenticated clients and their users. A connection lives no longer than
 * the token it presented: within a second of the token's expiry the client
 * is closed, and reconnects with a fresh token. Clients are kept by the
 * second their token expires and one timer sweeps them: a timer per
 * connection cost each idle connection about 380 bytes.
 */
export class Sessions {
  readonly #byClient = new WeakMap<Client, Entry>()
  readonly #expiring = new Map<number, Set<Client>>()
  readonly #sweeper = setInterval(() => this.#sweep(), SWEEP_MS).unref()

  /** Records `client`'s user and schedules its close at `expiresAt` (ms since the epoch). */
  start(client: Client, session: MqttSession, expiresAt: number): void {
    const expirySecond = Math.ceil(expiresAt / 1000)
    let clients = this.#expiring.get(expirySecond)
    if (!clients) this.#expiring.set(expirySecond, (clients = new Set()))
    clients.add(client)
    this.#byClient.set(client, { ...session, expirySecond })
  }

  /** The user of `client`, if it authenticated. */
  get(client: Client | null): MqttSession | undefined {
    return client ? this.#byClient.get(client) : undefined
  }

  /** Forgets a disconnected client. */
  end(client: Client): void {
    const entry = this.#byClient.get(client)
    if (!entry) return
    this.#byClient.delete(client)
    const clients = this.#expiring.get(entry.expirySecond)
    clients?.delete(client)
    if (clients?.size === 0) this.#expiring.delete(entry.expirySecond)
  }

  /** Stops the sweep (broker close). */
  close(): void {
    clearInterval(this.#sweeper)
  }

  /** Closes the clients whose token has expired (at most one bucket per second of token lifetime is looked at). */
  #sweep(): void {
    const now = Date.now() / 1000
    for (const [second, clients] of this.#expiring) {
      if (second > now) continue
      this.#expiring.delete(second)
      for (const client of clients) client.close()
    }
  }
}
