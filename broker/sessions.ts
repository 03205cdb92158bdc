import type { Client } from 'aedes'

/** Who a connected MQTT client is, set once CONNECT is authenticated. */
export interface MqttSession {
  userId: string
  username: string
}

/** Authenticated clients and their users; entries go with their clients. */
export class Sessions {
  readonly #byClient = new WeakMap<Client, MqttSession>()

  set(client: Client, session: MqttSession): void {
    this.#byClient.set(client, session)
  }

  get(client: Client | null): MqttSession | undefined {
    return client ? this.#byClient.get(client) : undefined
  }
}
