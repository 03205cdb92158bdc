/** What counting a new connection found. */
export interface AddResult {
  /** It is the user's first live connection. */
  first: boolean
  /** The user's connections beyond the per-user limit, to be closed: any the new one takes over, then the oldest. */
  evict: string[]
}

/**
 * The live connections of each user, counted per connection (never per
 * client id: a takeover opens the new connection before the old one closes,
 * so the count never touches zero). {@link MemoryPresenceRegistry} sees one
 * node; `RedisPresenceRegistry` is shared by the nodes of a cluster.
 */
export interface PresenceRegistry {
  /**
   * Counts `connectionId` (of the broker-side client id `clientId`) as live for `userId`, and names the
   * connections beyond `maxPerUser` to close: first the user's other connections with the same `clientId`
   * (a takeover, which MQTT closes anyway), then the oldest.
   */
  add(userId: string, connectionId: string, clientId: string, maxPerUser: number): Promise<AddResult>
  /** Stops counting `connectionId`; true when it was the user's last live connection. */
  remove(userId: string, connectionId: string): Promise<boolean>
  /** Whether `userId` has a live connection. */
  isOnline(userId: string): Promise<boolean>
  /**
   * Whether a node other than this one holds a live connection of `userId` with the broker-side client id
   * `clientId` (the session is connected there). This node's own connections are not asked: it knows them.
   */
  connectedElsewhere(userId: string, clientId: string): Promise<boolean>
  /** Live connections per live node id (a single node answers for itself alone, as `local`). */
  connectionsByNode(): Promise<Map<string, number>>
  /**
   * Forgets the connections of nodes that died without closing them (none
   * for a single node); answers the users who thereby have none left.
   */
  sweepDeadNodes(): Promise<string[]>
  /** Calls `listener` with users whose connections count again after this node was taken for dead (clustered only). */
  onRestored(listener: (userIds: string[]) => void): void
  /** Stops any background work; this node's connections must have been removed. */
  close(): Promise<void>
}

/**
 * The `count` connections of `live` (in the order counted) to close for one more of `clientId`: first
 * the others of `clientId`, which a takeover replaces, then the oldest. None when `count` is not
 * positive; the rest is not copied: a user may hold thousands of connections.
 */
function surplus(live: Map<string, string>, connectionId: string, clientId: string, count: number): string[] {
  const found: string[] = []
  if (count <= 0) return found
  for (const [id, client] of live) {
    if (found.length === count) return found
    if (client === clientId && id !== connectionId) found.push(id)
  }
  for (const [id, client] of live) {
    if (found.length === count) break
    if (client !== clientId) found.push(id)
  }
  return found
}

/** A {@link PresenceRegistry} in this process's memory, for a single node. */
export class MemoryPresenceRegistry implements PresenceRegistry {
  /** Per user, their connections (connection id -> client id) in the order they were counted. */
  readonly #connections = new Map<string, Map<string, string>>()

  async add(userId: string, connectionId: string, clientId: string, maxPerUser: number): Promise<AddResult> {
    const live = this.#connections.get(userId) ?? new Map<string, string>()
    this.#connections.set(userId, live)
    live.set(connectionId, clientId)
    return { first: live.size === 1, evict: surplus(live, connectionId, clientId, live.size - maxPerUser) }
  }

  async remove(userId: string, connectionId: string): Promise<boolean> {
    const live = this.#connections.get(userId)
    if (!live?.delete(connectionId) || live.size > 0) return false
    this.#connections.delete(userId)
    return true
  }

  async isOnline(userId: string): Promise<boolean> {
    return this.#connections.has(userId)
  }

  async connectedElsewhere(): Promise<boolean> {
    return false
  }

  async connectionsByNode(): Promise<Map<string, number>> {
    let total = 0
    for (const live of this.#connections.values()) total += live.size
    return new Map([['local', total]])
  }

  async sweepDeadNodes(): Promise<string[]> {
    return []
  }

  onRestored(): void {}

  async close(): Promise<void> {}
}
