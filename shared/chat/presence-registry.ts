/** What counting a new connection found. */
export interface AddResult {
  /** It is the user's first live connection. */
  first: boolean
  /** The user's connections, oldest first, beyond the per-user limit: to be closed. */
  evict: string[]
}

/**
 * The live connections of each user, counted per connection (never per
 * client id: a takeover opens the new connection before the old one closes,
 * so the count never touches zero). {@link MemoryPresenceRegistry} sees one
 * node; `RedisPresenceRegistry` is shared by the nodes of a cluster.
 */
export interface PresenceRegistry {
  /** Counts `connectionId` as live for `userId`, and names the oldest connections beyond `maxPerUser`. */
  add(userId: string, connectionId: string, maxPerUser: number): Promise<AddResult>
  /** Stops counting `connectionId`; true when it was the user's last live connection. */
  remove(userId: string, connectionId: string): Promise<boolean>
  /** Whether `userId` has a live connection. */
  isOnline(userId: string): Promise<boolean>
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

/** The first `count` of `ids` (none when `count` is not positive), without copying the rest: a user may hold thousands of connections. */
function oldest(ids: Set<string>, count: number): string[] {
  const found: string[] = []
  if (count <= 0) return found
  for (const id of ids) {
    found.push(id)
    if (found.length === count) break
  }
  return found
}

/** A {@link PresenceRegistry} in this process's memory, for a single node. */
export class MemoryPresenceRegistry implements PresenceRegistry {
  /** Per user, their connections in the order they were counted. */
  readonly #connections = new Map<string, Set<string>>()

  async add(userId: string, connectionId: string, maxPerUser: number): Promise<AddResult> {
    const live = this.#connections.get(userId) ?? new Set<string>()
    this.#connections.set(userId, live)
    live.add(connectionId)
    return { first: live.size === 1, evict: oldest(live, live.size - maxPerUser) }
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
