import type { Client } from 'aedes'

const GRANTED = Symbol('mqchat.granted')

/** Marks a filter the authorize-subscribe hook granted, before it calls back. */
export function markGranted(sub: object): void {
  (sub as Record<symbol, boolean>)[GRANTED] = true
}

type Sub = { topic: string }
type Persistence = { addSubscriptions(client: Client, subs: Sub[]): Promise<unknown> }

/**
 * Works around two faults of Aedes 1.2's SUBSCRIBE handling for persistent
 * (`clean: false`) sessions (lib/handlers/subscribe.js, `storeSubscriptions`):
 * it stores the packet's whole filter list once per granted filter, so
 * (1) filters the hook refused were stored too, and would queue that
 * room's messages for the session while it is offline, and (2) the
 * concurrent stores of one packet wait on the same key in the persistence's
 * broadcast step, so all but one never finish and the SUBACK never comes.
 * Each store now keeps only the filters granted so far, and one client's
 * stores run one after another.
 */
export function storeGrantedOnly<P extends Persistence>(persistence: P): P {
  const store = persistence.addSubscriptions.bind(persistence)
  const queues = new Map<string, Promise<unknown>>()
  persistence.addSubscriptions = (client: Client, subs: Sub[]) => {
    const granted = subs.filter((sub) => (sub as unknown as Record<symbol, boolean>)[GRANTED])
    const previous = queues.get(client.id) ?? Promise.resolve()
    const stored = previous.catch(() => {}).then(() => (granted.length > 0 ? store(client, granted) : undefined))
    queues.set(client.id, stored)
    void stored.finally(() => {
      if (queues.get(client.id) === stored) queues.delete(client.id)
    }).catch(() => {})
    return stored
  }
  return persistence
}
