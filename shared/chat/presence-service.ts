import { newConnectionId } from '../ids.ts'
import { ChatError } from '../errors.ts'
import type { PresenceEvent } from '../events.ts'
import type { Logger } from '../logger.ts'
import type { Realtime } from '../realtime.ts'
import type { PresenceStore } from '../stores/presence-store.ts'
import type { PresenceRegistry } from './presence-registry.ts'

/** Limits and timing of presence, from config. */
export interface PresenceOptions {
  /** Live connections one user may hold across the cluster; a further one closes the oldest (or the one it takes over). */
  maxConnectionsPerUser: number
  /** How often to look for dead nodes whose users must be announced offline. */
  sweepIntervalMs: number
}

/** Longest wait at shutdown for presence changes to reach the registry (Redis may be unreachable). */
const RECORD_GRACE_MS = 5000

/** How long a disabled user's new connections are closed on sight; far beyond any CONNECT's account look-up. */
const BAR_MS = 60_000

/** A user's presence as `GET /v1/users/:userId/presence` answers it. */
export interface Presence {
  userId: string
  online: boolean
  /** When their last connection closed; null while online or if never seen. */
  lastSeenAt: string | null
}

/** A live connection as presence sees it: something that can be closed (an Aedes client). */
export interface Closable {
  close(): void
}

/**
 * Online while at least one of a user's connections is live, offline (with
 * `users.last_seen_at`) once the last one has closed, however it closed.
 * Derived from the connections the broker counts, never from will messages.
 * Each change goes to everyone who shares a room with the user, on
 * `user/<theirId>/presence`; a user's changes are handled one after another,
 * so their events go out in order.
 */
export class PresenceService {
  readonly #store: PresenceStore
  readonly #registry: PresenceRegistry
  readonly #realtime: Realtime
  readonly #log: Logger
  readonly #options: PresenceOptions
  readonly #queues = new Map<string, Promise<void>>()
  /** Whose each connection counted on this node is, and how to close it (per-user limit, disabled users). */
  readonly #evictors = new Map<string, { userId: string; connection: Closable }>()
  /** Users lately disabled, each with the timer that forgets them (see {@link setDisabled}). */
  readonly #barred = new Map<string, NodeJS.Timeout>()
  /** Connections counted on this node and not yet released, per broker-side client id (two during a takeover). */
  readonly #localClients = new Map<string, number>()
  readonly #sweeper: NodeJS.Timeout
  /** Connections counted here and not yet released. */
  #live = 0
  #allReleased: (() => void) | undefined
  #closing = false

  constructor(deps: { store: PresenceStore; registry: PresenceRegistry; realtime: Realtime; log: Logger; options: PresenceOptions }) {
    this.#store = deps.store
    this.#registry = deps.registry
    this.#realtime = deps.realtime
    this.#log = deps.log
    this.#options = deps.options
    this.#registry.onRestored((userIds) => {
      for (const userId of userIds) this.#enqueue(userId, () => this.#announce(userId, true))
    })
    this.#sweeper = setInterval(() => void this.#sweep(), deps.options.sweepIntervalMs)
    this.#sweeper.unref()
  }

  /**
   * Counts a new live connection of `userId` whose broker-side client id
   * is `clientId` (the first makes the user online). If the user now holds
   * more than `maxConnectionsPerUser` connections, some are closed (on
   * whichever node holds them; here by `connection.close()`, an object kept
   * rather than a closure made for each connection): first the user's older
   * connections with the same `clientId`, which this one takes over (MQTT
   * 3.1.4-2: the broker closes them anyway), then the oldest. A device that
   * reconnects before its old connection has closed thus never closes
   * another device. Call the returned release once the connection has
   * closed (the last release makes the user offline); later calls do nothing.
   */
  connected(userId: string, clientId: string, connection: Closable): () => void {
    if (this.#closing) return () => {}
    const connectionId = newConnectionId()
    this.#live++
    this.#evictors.set(connectionId, { userId, connection })
    this.#localClients.set(clientId, (this.#localClients.get(clientId) ?? 0) + 1)
    this.#enqueue(userId, async () => {
      const { first, evict: surplus } = await this.#registry.add(userId, connectionId, clientId, this.#options.maxConnectionsPerUser)
      if (this.#barred.has(userId)) this.evictLocal([connectionId])
      if (surplus.length > 0) {
        this.#log.info({ userId, connections: surplus.length }, 'over CONNECTIONS_PER_USER: closing the oldest connections (or those taken over)')
        const remote = surplus.filter((id) => !this.evictLocal([id]))
        if (remote.length > 0) this.#realtime.broadcast({ kind: 'evict_connections', connectionIds: remote })
      }
      if (first) await this.#announce(userId, true)
    })
    let released = false
    return () => {
      if (released) return
      released = true
      this.#evictors.delete(connectionId)
      const left = this.#localClients.get(clientId)! - 1
      if (left > 0) this.#localClients.set(clientId, left)
      else this.#localClients.delete(clientId)
      if (--this.#live === 0) this.#allReleased?.()
      this.#enqueue(userId, async () => {
        if (await this.#registry.remove(userId, connectionId)) await this.#announce(userId, false)
      })
    }
  }

  /** Closes the named connections that this node holds; true when it held any. */
  evictLocal(connectionIds: readonly string[]): boolean {
    let found = false
    for (const id of connectionIds) {
      const entry = this.#evictors.get(id)
      if (!entry) continue
      found = true
      this.#evictors.delete(id)
      entry.connection.close()
    }
    return found
  }

  /**
   * An admin disabled `userId` (or enabled them again), as a cluster note
   * tells every node: closes each of their connections this node holds. For
   * {@link BAR_MS} it also closes any connection of theirs counted later: a
   * CONNECT may have read the account just before the change was committed.
   */
  setDisabled(userId: string, disabled: boolean): void {
    clearTimeout(this.#barred.get(userId))
    this.#barred.delete(userId)
    if (!disabled) return
    this.#barred.set(userId, setTimeout(() => this.#barred.delete(userId), BAR_MS).unref())
    this.evictLocal([...this.#evictors].filter(([, entry]) => entry.userId === userId).map(([id]) => id))
  }

  /** Whether `userId` has a live connection on any node (no permission check: for the service's own use). */
  isOnline(userId: string): Promise<boolean> {
    return this.#registry.isOnline(userId)
  }

  /**
   * Whether the session `clientId` (broker-side client id) of `userId` is
   * connected: on this node, from the moment its CONNECT is authenticated
   * until its socket closes (exact, no look-up); on another node, while that
   * node counts it in the registry (for a cluster, a Redis look-up, which
   * lags the other node's CONNECT and socket close by its presence update).
   */
  async isSessionConnected(userId: string, clientId: string): Promise<boolean> {
    return this.#localClients.has(clientId) || this.#registry.connectedElsewhere(userId, clientId)
  }

  /** Live connections per node id: every live node of the cluster, or just this one when not clustered. */
  connectionsByNode(): Promise<Map<string, number>> {
    return this.#registry.connectionsByNode()
  }

  /**
   * `userId`'s presence, for the user themself or someone who shares a room
   * with them; anyone else gets `user_not_found`, as for an unknown user.
   */
  async get(viewerId: string, userId: string): Promise<Presence> {
    const seen = await this.#store.seenBy(viewerId, userId)
    if (!seen) throw new ChatError('user_not_found')
    const online = await this.#registry.isOnline(userId)
    return { userId, online, lastSeenAt: online ? null : seen.lastSeenAt?.toISOString() ?? null }
  }

  /**
   * {@link get} for several users in one call (one query, and the registry
   * asked for each at once), in the order asked; users `viewerId` may not
   * see, or who do not exist, are left out rather than refused.
   */
  async getMany(viewerId: string, userIds: readonly string[]): Promise<Presence[]> {
    const seen = await this.#store.seenByMany(viewerId, userIds)
    const visible = userIds.filter((id) => seen.has(id))
    const online = await Promise.all(visible.map((id) => this.#registry.isOnline(id)))
    return visible.map((userId, i) => ({ userId, online: online[i]!, lastSeenAt: online[i] ? null : seen.get(userId)?.toISOString() ?? null }))
  }

  /**
   * For shutdown, called before the broker closes its clients: from then on
   * no connection is counted and no change is announced (the broker could
   * not deliver it), but connections that close still record lastSeenAt.
   * Resolves once every counted connection has been released (waiting at
   * most `graceMs`) and recorded.
   */
  async close(graceMs = 2000): Promise<void> {
    this.#closing = true
    clearInterval(this.#sweeper)
    if (this.#live > 0) {
      await new Promise<void>((resolve) => {
        this.#allReleased = resolve
        setTimeout(resolve, graceMs).unref()
      })
    }
    // Recording goes to the registry (Redis, when clustered): an unreachable Redis must not hold the shutdown up.
    const recorded = Promise.all(this.#queues.values())
      .then(() => this.#registry.close())
      .catch((err: unknown) => this.#log.warn({ err }, 'presence registry not closed cleanly'))
    const late = await Promise.race([recorded.then(() => false), new Promise<true>((resolve) => setTimeout(resolve, RECORD_GRACE_MS, true).unref())])
    if (late) this.#log.warn({ graceMs: RECORD_GRACE_MS }, 'presence not recorded in time; the registry\'s node key expires by itself')
  }

  /** Announces offline the users whose only connections were on a node that died. */
  async #sweep(): Promise<void> {
    try {
      for (const userId of await this.#registry.sweepDeadNodes()) this.#enqueue(userId, () => this.#announce(userId, false))
    } catch (err) {
      this.#log.warn({ err }, 'dead-node presence sweep failed')
    }
  }

  async #announce(userId: string, online: boolean): Promise<void> {
    const lastSeenAt = online ? null : (await this.#store.markSeen(userId))?.toISOString() ?? null
    if (this.#closing) return
    const event: PresenceEvent = { type: 'presence', userId, online, lastSeenAt }
    for (const coMemberId of await this.#store.coMemberIds(userId)) this.#realtime.userEvent(coMemberId, 'presence', event)
  }

  /** Runs `step` after the user's earlier steps; a failure is logged and does not hold up later ones. */
  #enqueue(userId: string, step: () => Promise<void>): void {
    const queued = (this.#queues.get(userId) ?? Promise.resolve()).then(step)
      .catch((err: unknown) => this.#log.warn({ err, userId }, 'presence change not recorded'))
    this.#queues.set(userId, queued)
    void queued.then(() => {
      if (this.#queues.get(userId) === queued) this.#queues.delete(userId)
    })
  }
}
