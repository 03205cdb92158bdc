import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import pg from 'pg'
import { sql } from 'kysely'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Test } from 'tap'
import { startMqchat, type Mqchat } from '../../app.ts'
import { loadConfig, type Config } from '../../shared/config.ts'
import { createLogger } from '../../shared/logger.ts'
import { RELAXED_THROTTLES } from './process.ts'
import { postgresUrl, redisPrefix, redisUrl } from './services.ts'

/** A running node for one test, with helpers to act as its users. */
export interface TestNode {
  node: Mqchat
  config: Config
  /** The Postgres schema this node works in (undefined on PGlite). */
  schema: string | undefined
  /** Every log line the node wrote, for checks such as "no secrets logged". */
  logLines: string[]
  http(method: string, path: string, opts?: { body?: unknown; token?: string; rawBody?: string }): Promise<{ status: number; body: any; headers: Record<string, string> }>
  /** Registers `username` (password `password-<username>`) and logs in. */
  user(username: string): Promise<{ id: string; username: string; token: string }>
  /** An MQTT.js client over TCP (or WebSocket) with `token` as password; resolves on CONNACK. */
  mqtt(token: string, opts?: IClientOptions & { ws?: boolean }): Promise<MqttClient>
  /**
   * The same client, returned still connecting: listeners attached at once also see what the broker sends
   * right after CONNACK (a persistent session's queue), which `mqtt()` resolves too late to catch.
   */
  mqttConnecting(token: string, opts?: IClientOptions & { ws?: boolean }): MqttClient
  mqttUrl(transport: 'tcp' | 'ws'): string
}

/**
 * Starts a node on free ports with its own database: a fresh schema in the
 * Postgres at DATABASE_URL (dropped afterwards) or an in-memory PGlite.
 * `shareDatabaseWith` makes a second node of the same cluster, on the first
 * one's schema. Everything is torn down when `t` ends.
 */
export async function startTestNode(t: Test, env: Record<string, string> = {}, shareDatabaseWith?: TestNode): Promise<TestNode> {
  const schema = shareDatabaseWith?.schema ?? `t_${process.pid}_${randomBytes(4).toString('hex')}`
  const databaseUrl = postgresUrl(t)
  const config = loadConfig({
    HOST: '127.0.0.1', MQTT_PORT: '0', WS_PORT: '0', HTTP_PORT: '0',
    DATA_DIR: 'memory://', DATABASE_URL: databaseUrl, DATABASE_SCHEMA: databaseUrl ? schema : undefined,
    PASSWORD_SCRYPT_COST: '1024', LOG_LEVEL: 'debug',
    // Tests send in bursts; the rate limit has its own test.
    MESSAGE_RATE_PER_MINUTE: '6000000', MESSAGE_RATE_BURST: '100000', CONNECTIONS_PER_IP_PER_SECOND: '100000', CONNECTIONS_PER_USER: '1000',
    // Every test user registers from 127.0.0.1, some tests try many wrong passwords or make many rooms; the throttles have their own tests (test/api/auth-throttle.test.ts, room-change-limit.test.ts).
    ...RELAXED_THROTTLES, ...env,
  })
  const logLines: string[] = []
  const sink = new Writable({ write(chunk, _enc, cb) { logLines.push(...String(chunk).split('\n').filter(Boolean)); cb() } })
  if (databaseUrl) t.teardown(() => dropSchema(databaseUrl, schema))
  const node = await startMqchat(config, createLogger(config.LOG_LEVEL, sink))
  const clients: MqttClient[] = []
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})))
    await node.close()
  })
  const base = `http://127.0.0.1:${node.ports.http}`
  const testNode: TestNode = {
    node, config, logLines, schema: databaseUrl ? schema : undefined,
    async http(method, path, opts = {}) {
      const headers: Record<string, string> = {}
      if (opts.token) headers['authorization'] = `Bearer ${opts.token}`
      const payload = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body))
      if (payload !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(base + path, { method, headers, body: payload })
      const text = await res.text()
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: Object.fromEntries(res.headers) }
    },
    async user(username) {
      const password = `password-${username}`
      const reg = await testNode.http('POST', '/v1/auth/register', { body: { username, password } })
      if (reg.status !== 201) throw new Error(`register ${username}: ${reg.status} ${JSON.stringify(reg.body)}`)
      const login = await testNode.http('POST', '/v1/auth/login', { body: { username, password } })
      if (login.status !== 200) throw new Error(`login ${username}: ${login.status}`)
      return { id: reg.body.user.id, username, token: login.body.accessToken }
    },
    mqttUrl: (transport) => (transport === 'ws' ? `ws://127.0.0.1:${node.ports.ws}${config.WS_PATH}` : `mqtt://127.0.0.1:${node.ports.mqtt}`),
    async mqtt(token, opts = {}) {
      const { ws, ...options } = opts
      const client = await mqtt.connectAsync(testNode.mqttUrl(ws ? 'ws' : 'tcp'), { username: '', password: token, reconnectPeriod: 0, connectTimeout: 5000, ...options })
      clients.push(client)
      return client
    },
    mqttConnecting(token, opts = {}) {
      const { ws, ...options } = opts
      const client = mqtt.connect(testNode.mqttUrl(ws ? 'ws' : 'tcp'), { username: '', password: token, reconnectPeriod: 0, connectTimeout: 5000, ...options })
      // A refused CONNACK must fail the test's own wait, not crash the file as an unhandled 'error'.
      client.on('error', () => {})
      clients.push(client)
      return client
    },
  }
  return testNode
}

/** Drops `schema` and everything in it (test teardown). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

/**
 * Resolves with the next `count` messages `client` receives on topics matching
 * `filter`; rejects after `timeoutMs` naming what did arrive, so a lost message
 * fails its own assertion instead of the whole file's timeout.
 */
export function nextMessages(client: MqttClient, count: number, filter: (topic: string) => boolean = () => true, timeoutMs = 15_000): Promise<Array<{ topic: string; payload: any }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ topic: string; payload: any }> = []
    const timer = setTimeout(() => {
      client.off('message', onMessage)
      reject(new Error(`${got.length} of ${count} messages within ${timeoutMs} ms: ${JSON.stringify(got).slice(0, 500)}`))
    }, timeoutMs)
    const onMessage = (topic: string, payload: Buffer) => {
      if (!filter(topic)) return
      got.push({ topic, payload: JSON.parse(payload.toString()) })
      if (got.length === count) {
        clearTimeout(timer)
        client.off('message', onMessage)
        resolve(got)
      }
    }
    client.on('message', onMessage)
  })
}

/**
 * The next `count` distinct chat messages `client` receives, in message-number
 * order. For a persistent session reconnecting, when a message may come both
 * from its queue and live (QoS 1 is at least once; docs/PROTOCOL.md, Holes).
 */
export async function distinctMessages(client: MqttClient, count: number, timeoutMs = 15_000): Promise<Array<{ topic: string; payload: any }>> {
  const seen = new Map<string, { topic: string; payload: any }>()
  const started = Date.now()
  const got = collect(client)
  while (Date.now() - started < timeoutMs) {
    for (const message of got) seen.set(`${message.payload.roomId}/${message.payload.id}`, message)
    if (seen.size >= count) return [...seen.values()].sort((a, b) => a.payload.id - b.payload.id)
    await sleep(20)
  }
  throw new Error(`${seen.size} of ${count} distinct messages within ${timeoutMs} ms`)
}

/** Collects every message `client` receives from now on. */
export function collect(client: MqttClient): Array<{ topic: string; payload: any }> {
  const got: Array<{ topic: string; payload: any }> = []
  client.on('message', (topic, payload) => got.push({ topic, payload: JSON.parse(payload.toString()) }))
  return got
}

/** Waits `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `check` every 50 ms until it holds; resolves with the milliseconds that took, or rejects naming
 * `what` once `ms` have passed. A check that throws counts as not holding yet (a server that is still
 * down), and its last error is named in the rejection.
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<number> {
  const started = Date.now()
  let lastError: unknown
  for (;;) {
    try {
      if (await check()) return Date.now() - started
    } catch (err) {
      lastError = err
    }
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}${lastError ? ` (the last check threw: ${String(lastError)})` : ''}`)
    await sleep(50)
  }
}

/** Polls `check` every 25 ms until it holds or `ms` pass; resolves whether it held. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(25)) if (await check()) return true
  return check()
}

/**
 * The SUBACK return codes for `filters`, in order (0x80 = refused). MQTT.js
 * rejects a SUBACK holding any 0x80; the codes are read from that rejection.
 */
export async function subackCodes(client: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos })).map((g) => g.qos)
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted
    if (!granted) throw err
    return granted
  }
}

/**
 * Holds `roomId`'s row lock in another transaction, which every message
 * commit must take, so commits wait until `release()` is called (which also
 * waits for that transaction to end). On PGlite the whole single connection
 * waits: connect clients before taking it.
 */
export async function holdRoomLock(node: TestNode, roomId: string): Promise<{ release(): Promise<void>; waiters(): Promise<number> }> {
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  let locked!: () => void
  const lockTaken = new Promise<void>((resolve) => { locked = resolve })
  let holderPid: number | undefined
  const { db } = node.node.database
  const blocker = db.transaction().execute(async (tx) => {
    await tx.selectFrom('rooms').select('id').where('id', '=', roomId).forUpdate().execute()
    if (node.schema) holderPid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(tx)).rows[0]!.pid
    locked()
    await gate
  })
  await lockTaken
  return {
    release: async () => { open(); await blocker },
    /**
     * Postgres only: how many backends wait behind the lock, directly or queued behind another
     * waiter (the later waiters for a row lock wait on the first one's tuple lock, not on the holder).
     */
    async waiters() {
      if (holderPid === undefined) throw new Error('waiters() needs real Postgres')
      const { rows } = await sql<{ n: number }>`
        WITH RECURSIVE behind(pid) AS (
          SELECT pid FROM pg_stat_activity WHERE ${holderPid}::int = ANY (pg_blocking_pids(pid))
          UNION SELECT a.pid FROM pg_stat_activity a JOIN behind b ON b.pid = ANY (pg_blocking_pids(a.pid)))
        SELECT count(*)::int AS n FROM behind`.execute(db)
      return rows[0]!.n
    },
  }
}

/** The CONNACK return code of a refused connection (undefined when it was accepted). */
export async function refusedWith(connect: Promise<unknown>): Promise<number | undefined> {
  try {
    await connect
    return undefined
  } catch (err) {
    return (err as { code?: number }).code
  }
}

/**
 * A node whose sessions queue at most `queueMax` messages offline, with
 * alice and bob and their direct room; `redis`: its broker state in Redis,
 * under a key prefix of the test's own.
 */
export async function offlineQueueNode(t: Test, queueMax: number, redis: boolean): Promise<{ app: TestNode; alice: Awaited<ReturnType<TestNode['user']>>; bob: Awaited<ReturnType<TestNode['user']>>; room: string }> {
  const env: Record<string, string> = { MQTT_OFFLINE_QUEUE_MAX: String(queueMax) }
  if (redis) {
    const url = redisUrl(t)
    Object.assign(env, { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) })
  }
  const app = await startTestNode(t, env)
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
  return { app, alice, bob, room }
}
