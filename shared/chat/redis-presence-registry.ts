import type { Redis } from 'ioredis'
import type { AddResult, PresenceRegistry } from './presence-registry.ts'

/*
 * Keys, under the connection's prefix (passed to the scripts too, since keys
 * a script builds itself get no automatic prefix):
 *   presence:conns:<userId>      hash connectionId -> "<nodeId> <order> <clientId>" (the broker-side client
 *                                id, which may hold spaces; a value written without it reads as no client id)
 *   presence:node:<nodeId>       exists while the node is alive (refreshed, with a TTL)
 *   presence:nodeconns:<nodeId>  set of "<userId> <connectionId>" held by the node
 *   presence:nodes               set of node ids that may hold connections
 * A connection counts while its node's key exists, so a node that dies
 * (SIGKILL, lost network) stops counting within its TTL, whatever Aedes's
 * stale wills later say.
 */
const LIVE_CONNECTIONS = `
local function live(conns, prefix)
  local all = redis.call('HGETALL', conns)
  local found = {}
  for i = 1, #all, 2 do
    local node, order, client = string.match(all[i + 1], '^(%S+) (%S+) ?(.*)$')
    if redis.call('EXISTS', prefix .. 'presence:node:' .. node) == 1 then
      table.insert(found, { all[i], tonumber(order), client, node })
    else
      redis.call('HDEL', conns, all[i])
    end
  end
  table.sort(found, function(a, b) return a[2] < b[2] end)
  return found
end
`

const ADD = `${LIVE_CONNECTIONS}
local time = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (tonumber(time[1]) * 1000000 + tonumber(time[2])) .. ' ' .. ARGV[6])
redis.call('SADD', KEYS[2], ARGV[3] .. ' ' .. ARGV[1])
local found = live(KEYS[1], ARGV[5])
local result = { #found == 1 and 1 or 0 }
-- Beyond the limit: first the connections this one takes over (same client id), then the oldest.
local surplus = #found - tonumber(ARGV[4])
for i = 1, #found do
  if #result > surplus then break end
  if found[i][3] == ARGV[6] and found[i][1] ~= ARGV[1] then table.insert(result, found[i][1]) end
end
for i = 1, #found do
  if #result > surplus then break end
  if found[i][3] ~= ARGV[6] then table.insert(result, found[i][1]) end
end
return result
`

const REMOVE = `${LIVE_CONNECTIONS}
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2] .. ' ' .. ARGV[1])
if removed == 0 then return 0 end
return #live(KEYS[1], ARGV[3]) == 0 and 1 or 0
`

const COUNT = `${LIVE_CONNECTIONS}
return #live(KEYS[1], ARGV[1])
`

const CLIENT_ELSEWHERE = `${LIVE_CONNECTIONS}
for _, found in ipairs(live(KEYS[1], ARGV[1])) do
  if found[3] == ARGV[2] and found[4] ~= ARGV[3] then return 1 end
end
return 0
`

type Scripts = {
  presenceAdd(conns: string, nodeConns: string, connectionId: string, nodeId: string, userId: string, max: number, prefix: string, clientId: string): Promise<Array<number | string>>
  presenceRemove(conns: string, nodeConns: string, connectionId: string, userId: string, prefix: string): Promise<number>
  presenceCount(conns: string, prefix: string): Promise<number>
  presenceClientElsewhere(conns: string, prefix: string, clientId: string, nodeId: string): Promise<number>
}

/**
 * The {@link PresenceRegistry} of a cluster, in Redis. Each node keeps a key
 * alive (refreshed every third of `nodeTtlMs`); connections of a node whose
 * key has expired no longer count, and `sweepDeadNodes` removes them and
 * names the users left with none, so they can be announced offline.
 */
export class RedisPresenceRegistry implements PresenceRegistry {
  readonly #redis: Redis & Scripts
  readonly #prefix: string
  readonly #nodeId: string
  readonly #nodeTtlMs: number
  readonly #heartbeat: NodeJS.Timeout
  /** This node's live connections (connection id -> user and client id), to count again if the node was taken for dead. */
  readonly #local = new Map<string, { userId: string; clientId: string }>()
  #onRestored: (userIds: string[]) => void = () => {}

  constructor(redis: Redis, opts: { prefix: string; nodeId: string; nodeTtlMs: number }) {
    this.#redis = redis as Redis & Scripts
    this.#prefix = opts.prefix
    this.#nodeId = opts.nodeId
    this.#nodeTtlMs = opts.nodeTtlMs
    if (!('presenceClientElsewhere' in redis)) {
      redis.defineCommand('presenceAdd', { numberOfKeys: 2, lua: ADD })
      redis.defineCommand('presenceRemove', { numberOfKeys: 2, lua: REMOVE })
      redis.defineCommand('presenceCount', { numberOfKeys: 1, lua: COUNT })
      redis.defineCommand('presenceClientElsewhere', { numberOfKeys: 1, lua: CLIENT_ELSEWHERE })
    }
    this.#heartbeat = setInterval(() => void this.#beat().catch(() => {}), Math.max(100, Math.floor(this.#nodeTtlMs / 3)))
    this.#heartbeat.unref()
  }

  /** Calls `listener` with the users whose connections were counted again after this node had been taken for dead. */
  onRestored(listener: (userIds: string[]) => void): void {
    this.#onRestored = listener
  }

  /**
   * Refreshes this node's key. If it had expired (an event-loop stall, or
   * Redis out of reach for longer than the TTL) the other nodes, or the
   * scripts, have dropped this node's connections: they are counted again.
   */
  async #beat(): Promise<void> {
    const nodeKey = `presence:node:${this.#nodeId}`
    const [[, alive] = []] = (await this.#redis.multi().exists(nodeKey).set(nodeKey, '1', 'PX', this.#nodeTtlMs).sadd('presence:nodes', this.#nodeId).exec()) ?? []
    if (alive !== 0 || this.#local.size === 0) return
    const restore = this.#redis.multi()
    const time = Date.now() * 1000
    for (const [connectionId, { userId, clientId }] of this.#local) {
      restore.hset(`presence:conns:${userId}`, connectionId, `${this.#nodeId} ${time} ${clientId}`).sadd(`presence:nodeconns:${this.#nodeId}`, `${userId} ${connectionId}`)
    }
    await restore.exec()
    this.#onRestored([...new Set([...this.#local.values()].map((local) => local.userId))])
  }

  /** Resolves once this node is marked alive (before it counts its first connection). */
  async ready(): Promise<void> {
    await this.#redis.multi().set(`presence:node:${this.#nodeId}`, '1', 'PX', this.#nodeTtlMs).sadd('presence:nodes', this.#nodeId).exec()
  }

  async add(userId: string, connectionId: string, clientId: string, maxPerUser: number): Promise<AddResult> {
    this.#local.set(connectionId, { userId, clientId })
    const [first, ...evict] = await this.#redis.presenceAdd(`presence:conns:${userId}`, `presence:nodeconns:${this.#nodeId}`,
      connectionId, this.#nodeId, userId, maxPerUser, this.#prefix, clientId)
    return { first: first === 1, evict: evict.map(String) }
  }

  async remove(userId: string, connectionId: string): Promise<boolean> {
    this.#local.delete(connectionId)
    return (await this.#redis.presenceRemove(`presence:conns:${userId}`, `presence:nodeconns:${this.#nodeId}`, connectionId, userId, this.#prefix)) === 1
  }

  async isOnline(userId: string): Promise<boolean> {
    return (await this.#redis.presenceCount(`presence:conns:${userId}`, this.#prefix)) > 0
  }

  async connectedElsewhere(userId: string, clientId: string): Promise<boolean> {
    return (await this.#redis.presenceClientElsewhere(`presence:conns:${userId}`, this.#prefix, clientId, this.#nodeId)) === 1
  }

  async connectionsByNode(): Promise<Map<string, number>> {
    const counts = new Map<string, number>()
    for (const nodeId of await this.#redis.smembers('presence:nodes')) {
      const [[, alive] = [], [, connections] = []] = (await this.#redis.multi().exists(`presence:node:${nodeId}`).scard(`presence:nodeconns:${nodeId}`).exec()) ?? []
      if (alive === 1) counts.set(nodeId, Number(connections))
    }
    return counts
  }

  async sweepDeadNodes(): Promise<string[]> {
    const offline: string[] = []
    for (const nodeId of await this.#redis.smembers('presence:nodes')) {
      if (nodeId === this.#nodeId || (await this.#redis.exists(`presence:node:${nodeId}`))) continue
      // One node sweeps each dead node.
      if (!(await this.#redis.set(`presence:sweep:${nodeId}`, this.#nodeId, 'PX', 30_000, 'NX'))) continue
      for (const entry of await this.#redis.smembers(`presence:nodeconns:${nodeId}`)) {
        const [userId, connectionId] = entry.split(' ') as [string, string]
        await this.#redis.hdel(`presence:conns:${userId}`, connectionId)
        if ((await this.#redis.presenceCount(`presence:conns:${userId}`, this.#prefix)) === 0) offline.push(userId)
      }
      await this.#redis.multi().del(`presence:nodeconns:${nodeId}`).srem('presence:nodes', nodeId).exec()
    }
    return [...new Set(offline)]
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat)
    await this.#redis.multi().del(`presence:node:${this.#nodeId}`, `presence:nodeconns:${this.#nodeId}`).srem('presence:nodes', this.#nodeId).exec()
  }
}
