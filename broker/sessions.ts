import type { Client } from 'aedes'

/** Who a connected MQTT client is, set once CONNECT is authenticated. */
export interface MqttSession {
  userId: string
  username: string
}

interface Entry extends MqttSession {
  expiry: NodeJS.Timeout
}

/**
 * Authenticated clients and their users. A connection lives no longer than
 * the token it presented: at the token's expiry the client is closed, and
 * reconnects with a fresh token.
 */
export class Sessions {
  readonly #byClient = new WeakMap<Client, Entry>()

  /** Records `client`'s user and schedules its close at `expiresAt` (ms since the epoch). */
  start(client: Client, session: MqttSession, expiresAt: number): void {
    const expiry = setTimeout(() => client.close(), Math.max(0, expiresAt - Date.now()))
    expiry.unref()
    this.#byClient.set(client, { ...session, expiry })
  }

  /** The user of `client`, if it authenticated. */
  get(client: Client | null): MqttSession | undefined {
    return client ? this.#byClient.get(client) : undefined
  }

  /** Forgets a disconnected client and its expiry timer. */
  end(client: Client): void {
    const entry = this.#byClient.get(client)
    if (entry) clearTimeout(entry.expiry)
    this.#byClient.delete(client)
  }
}
