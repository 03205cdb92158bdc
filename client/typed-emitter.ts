/** A listener of one event. */
export type Listener<T> = (payload: T) => void

/**
 * A minimal event emitter typed by an event map, without Node's `events`
 * module so it runs in browsers too. A throwing listener is reported on the
 * console and does not stop the others (or the SDK's own bookkeeping).
 */
export class TypedEmitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(listener as Listener<never>)
    return () => this.off(event, listener)
  }

  /** Removes a listener added with `on`. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>)
  }

  /** Resolves with the next payload of `event` that `match` accepts. */
  next<K extends keyof Events>(event: K, match: (payload: Events[K]) => boolean = () => true): Promise<Events[K]> {
    return new Promise((resolve) => {
      const off = this.on(event, (payload) => {
        if (!match(payload)) return
        off()
        resolve(payload)
      })
    })
  }

  /** Calls every listener of `event` with `payload`. */
  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        ;(listener as Listener<Events[K]>)(payload)
      } catch (err) {
        console.error(`mqchat client: a "${String(event)}" listener threw`, err)
      }
    }
  }
}
