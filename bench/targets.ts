/**
 * The three brokers the bench compares: mqchat as shipped (its own process,
 * real Postgres, a fresh schema), vanilla Aedes (bench/aedes-server.ts), and
 * the Mosquitto already listening on 127.0.0.1:1883 (skipped when absent).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import pg from 'pg'
import WebSocket from 'ws'
import type { Creds } from './common.ts'
import { findProcessByName, PostgresBackendCpu } from './proc.ts'

export type TargetName = 'mqchat' | 'aedes' | 'mosquitto'

/** Topic, filter and clients for one scenario run. */
export interface Prepared {
  topic: string
  filter: string
  publisher: Creds
  subscribers: Creds[]
  errorsTopic?: string
}

export interface Target {
  name: TargetName
  url: string
  /** The broker's pid, for its CPU (null when unknown). */
  pid: number | null
  /** mqchat: the Postgres backends serving it. */
  pgCpu?: PostgresBackendCpu
  /** Things worth printing with the results (e.g. settings changed from the defaults). */
  notes: string[]
  /** A name for tables when it differs from `name` (e.g. aedes without TCP_NODELAY). */
  label?: string
  /** mqchat: its MQTT-over-WebSocket listener (ws://127.0.0.1:<port>/mqtt). */
  wsUrl?: string
  /** mqchat with a self-signed certificate: its MQTT-over-TLS and secure WebSocket listeners. */
  tlsUrl?: string
  wssUrl?: string
  /** The broker's V8 heap in use, bytes, when it can tell (mqchat: its metrics; aedes: asked on stdin). */
  heapBytes?(): Promise<number | null>
  /** Runs a full garbage collection in the broker (Node brokers), so memory readings are not at a random point of its GC cycle. */
  collectGarbage?(): Promise<void>
  /** mqchat: what scenarios 2, 4, 5 and the Postgres ceiling need beyond MQTT. */
  mqchat?: MqchatHandle
  /**
   * A fresh room for one run: `pair` is a direct room (one publisher, one subscriber), `group` a group
   * room of `members` members, all subscribing, the first also publishing. Every run gets a new room so
   * that runs start alike (mqchat's cost per message depends on how many messages the room holds).
   */
  prepare(kind: 'pair' | 'group', members: number): Promise<Prepared>
  stop(): Promise<void>
}

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

const randomId = (length: number) => randomBytes(length).toString('base64url').slice(0, length)

/** Asks `child` to exit (`ask`, by default SIGTERM) and waits, sending SIGKILL after `ms` (it is our own child). */
export function stopChild(child: ChildProcess, ms: number, ask: () => void = () => child.kill('SIGTERM')): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    ask()
  })
}

/** Resolves with the first stdout line of `child` for which `pick` returns a value. */
function firstLine<T>(child: ChildProcess, what: string, ms: number, pick: (line: string) => T | undefined, onOther: (line: string) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false
    const lines = createInterface({ input: child.stdout! })
    const timer = setTimeout(() => finish(new Error(`${what} did not report its port within ${ms} ms`)), ms)
    const finish = (err: Error | null, value?: T) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (err) reject(err)
      else resolve(value as T)
    }
    lines.on('line', (line) => {
      if (done) return onOther(line)
      let value: T | undefined
      try {
        value = pick(line)
      } catch {
        value = undefined
      }
      if (value !== undefined) finish(null, value)
      else onOther(line)
    })
    child.once('exit', (code, signal) => finish(new Error(`${what} exited (${code ?? signal}) before reporting its port`)))
  })
}

// ---------------------------------------------------------------- anchors

function anonymousPrepared(kind: 'pair' | 'group', members: number): Prepared {
  // Same topic shapes and lengths as mqchat's: chat/<12-char room>/<12-char user>.
  const room = randomId(12)
  const sender = randomId(12)
  return {
    topic: `chat/${room}/${sender}`,
    filter: `chat/${room}/+`,
    publisher: {},
    subscribers: Array.from({ length: kind === 'pair' ? 1 : members }, () => ({})),
  }
}

/** Vanilla Aedes (bench/aedes-server.ts); `noDelay: false` leaves Nagle's algorithm on its sockets. */
export async function startAedes(opts: { noDelay?: boolean } = {}): Promise<Target> {
  const noDelay = opts.noDelay ?? true
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/aedes-server.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', BENCH_AEDES_NODELAY: noDelay ? '1' : '0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const heapWaiters: Array<(bytes: number | null) => void> = []
  const gcWaiters: Array<() => void> = []
  const onOther = (line: string) => {
    let answer: { memory?: { heapUsed?: number }; gc?: boolean } | undefined
    try {
      answer = JSON.parse(line) as typeof answer
    } catch {
      answer = undefined
    }
    if (answer?.memory?.heapUsed !== undefined) heapWaiters.shift()?.(answer.memory.heapUsed)
    else if (answer?.gc) gcWaiters.shift()?.()
    else process.stderr.write(`aedes: ${line}\n`)
  }
  try {
    const port = await firstLine(child, 'aedes-server', 30_000, (line) => (JSON.parse(line) as { port?: number }).port ?? undefined, onOther)
    return {
      name: 'aedes',
      label: noDelay ? 'aedes' : 'aedes-nagle',
      url: `mqtt://127.0.0.1:${port}`,
      pid: child.pid ?? null,
      notes: noDelay ? [] : ['TCP_NODELAY off on its sockets (Nagle on)'],
      heapBytes: () => new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), 5000)
        heapWaiters.push((bytes) => {
          clearTimeout(timer)
          resolve(bytes)
        })
        child.stdin!.write('mem\n')
      }),
      collectGarbage: () => new Promise((resolve) => {
        const timer = setTimeout(resolve, 5000)
        gcWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
        child.stdin!.write('gc\n')
      }),
      prepare: async (kind, members) => anonymousPrepared(kind, members),
      stop: () => stopChild(child, 5000),
    }
  } catch (err) {
    await stopChild(child, 2000)
    throw err
  }
}

/** The Mosquitto on `url`, or a reason to skip it. */
export async function useMosquitto(url: string): Promise<Target | string> {
  const host = new URL(url).hostname
  if (host !== '127.0.0.1' && host !== 'localhost') return `BENCH_MOSQUITTO_URL must point at 127.0.0.1 (got ${url})`
  // One anonymous QoS 1 round trip proves it is there and lets us in.
  let client: mqtt.MqttClient | undefined
  try {
    client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 3000 })
    const topic = `bench/check/${randomId(8)}`
    await client.subscribeAsync(topic, { qos: 1 })
    const got = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo within 3 s')), 3000)
      client!.once('message', () => {
        clearTimeout(timer)
        resolve()
      })
    })
    await client.publishAsync(topic, 'ping', { qos: 1 })
    await got
  } catch (err) {
    return `nothing usable at ${url} (${err instanceof Error ? err.message : String(err)})`
  } finally {
    await client?.endAsync(true).catch(() => {})
  }
  const pid = findProcessByName('mosquitto')
  return {
    name: 'mosquitto',
    url,
    pid,
    notes: pid === null ? ['mosquitto pid not found: its CPU is not reported'] : [],
    prepare: async (kind, members) => anonymousPrepared(kind, members),
    stop: async () => {},
  }
}

// ---------------------------------------------------------------- mqchat

/** An mqchat user with an access token. */
export interface ChatUser {
  id: string
  token: string
}

/** mqchat's REST API, schema and users, for the scenarios that need more than one room per run. */
export interface MqchatHandle {
  /** The Postgres schema mqchat runs in (dropped at the end). */
  schema: string
  databaseUrl: string
  /** http://127.0.0.1:<port> */
  apiUrl: string
  /** One JSON request; throws on a status >= 300. */
  http(method: string, path: string, body: unknown, token?: string): Promise<any>
  /** `count` new users, registered and logged in over REST. */
  newUsers(count: number): Promise<ChatUser[]>
}

/**
 * Opens a direct room between users 2k and 2k+1 for every pair in `users`,
 * 8 requests at a time; room k is the k-th pair's.
 */
export async function directRooms(m: MqchatHandle, users: readonly ChatUser[]): Promise<string[]> {
  const rooms: string[] = new Array(users.length >> 1)
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < rooms.length) {
      const k = next++
      rooms[k] = (await m.http('POST', '/v1/rooms', { type: 'direct', userId: users[2 * k + 1]!.id }, users[2 * k]!.token)).room.id
    }
  }))
  return rooms
}

/** Lowered for setup speed: only register and login hash passwords, and no measured phase does either. */
export const BENCH_SCRYPT_COST = '1024'

export interface MqchatOptions {
  databaseUrl: string
  /** Extra mqchat settings (from BENCH_MQCHAT_<NAME>), noted in the output. */
  extraEnv: Record<string, string>
  /** Node flags for the mqchat process (e.g. --cpu-prof). */
  nodeFlags: string[]
  /** Serve the TLS listeners too, with a self-signed certificate made by openssl (scenario 2 measures them). */
  tls?: boolean
  log(line: string): void
}

/** A directory with cert.pem and key.pem (P-256, CN and SAN 127.0.0.1, one day), or null when openssl fails. */
function selfSignedCertificate(log: (line: string) => void): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'mqchat-bench-tls-'))
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore', timeout: 10_000 })
    return dir
  } catch (err) {
    log(`bench: no TLS listeners for mqchat (openssl: ${err instanceof Error ? err.message : String(err)})`)
    rmSync(dir, { recursive: true, force: true })
    return null
  }
}

export async function startMqchat(opts: MqchatOptions): Promise<Target> {
  const schema = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    WS_PORT: '0',
    HTTP_PORT: '0',
    LOG_LEVEL: 'info', // the first line (info) names the bound ports
    DATABASE_URL: opts.databaseUrl,
    DATABASE_SCHEMA: schema,
    // The bench users send far beyond a chat user's rate by design; measure the path, not the limiter's refusals.
    MESSAGE_RATE_PER_MINUTE: '100000000',
    MESSAGE_RATE_BURST: '1000000',
    // Every bench client connects from 127.0.0.1.
    CONNECTIONS_PER_IP_PER_SECOND: '1000000',
    // Scenario 4 connects thousands of clients as few users.
    CONNECTIONS_PER_USER: '1000000',
    // Scenario 2 needs 1,000 users: at the default cost (32768) registering takes minutes.
    PASSWORD_SCRYPT_COST: BENCH_SCRYPT_COST,
    // ... all registered from 127.0.0.1, beyond what one address may register by default.
    REGISTRATIONS_PER_IP_PER_MINUTE: '1000000',
    REGISTRATIONS_PER_IP_BURST: '1000000',
    // Scenario 2 makes 500 rooms, and every run of scenarios 1, 3 and 6 a fresh one.
    ROOM_CHANGES_PER_MINUTE: '1000000',
    ROOM_CHANGES_BURST: '1000000',
    // Scenario 5 reads thousands of pages as few users, as fast as they come back.
    HTTP_REQUESTS_PER_MINUTE: '100000000',
    HTTP_REQUESTS_BURST: '1000000',
    // For the heap figure of scenario 4 (its own listener on 127.0.0.1, nothing else changes).
    METRICS_PORT: '0',
    ...opts.extraEnv,
  }
  const certDir = opts.tls ? selfSignedCertificate(opts.log) : null
  if (certDir) Object.assign(env, { TLS_CERT_FILE: join(certDir, 'cert.pem'), TLS_KEY_FILE: join(certDir, 'key.pem'), MQTTS_PORT: '0', WSS_PORT: '0' })
  const removeCert = () => {
    if (certDir) rmSync(certDir, { recursive: true, force: true })
  }
  // The inspector (127.0.0.1, a free port) only to run a full GC before scenario 4's memory readings.
  const child = spawn(process.execPath, [...opts.nodeFlags, '--inspect=127.0.0.1:0', '--import', 'tsx', 'main.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const problems: string[] = []
  let inspectorUrl: string | undefined
  child.stderr!.on('data', (chunk: Buffer) => {
    for (const line of String(chunk).split('\n')) {
      const found = /^Debugger listening on (ws:\/\/\S+)/.exec(line)
      if (found) inspectorUrl = found[1]
      else if (line.trim() && !/^(For help, see: https:\/\/nodejs.org\S*|Debugger attached\.|Debugger ending on \S+|Waiting for the debugger to disconnect\.\.\.)\s*$/.test(line)) process.stderr.write(`mqchat stderr: ${line}\n`)
    }
  })
  // After the first line, keep reading stdout (or the pipe fills); show warnings and errors.
  const onOther = (line: string) => {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string }
      if ((entry.level ?? 0) >= 40) {
        problems.push(line)
        if (problems.length <= 20) process.stderr.write(`mqchat log: ${line}\n`)
      }
    } catch {
      process.stderr.write(`mqchat stdout: ${line}\n`)
    }
  }
  const dropSchema = async () => {
    const client = new pg.Client({ connectionString: opts.databaseUrl, connectionTimeoutMillis: 5000 })
    try {
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    } catch (err) {
      process.stderr.write(`bench: could not drop schema ${schema}: ${err instanceof Error ? err.message : String(err)}\n`)
    } finally {
      await client.end().catch(() => {})
    }
  }
  type Ports = { mqtt: number; http: number; ws?: number; mqtts?: number | null; wss?: number | null; metrics?: number | null }
  let ports: Ports
  try {
    ports = await firstLine(child, 'mqchat', 60_000, (line) => (JSON.parse(line) as { ports?: Ports }).ports, onOther)
  } catch (err) {
    await stopChild(child, 5000)
    await dropSchema()
    removeCert()
    throw err
  }
  const api = `http://127.0.0.1:${ports.http}`
  const http = async (method: string, path: string, body: unknown, token?: string): Promise<any> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (token) headers['authorization'] = `Bearer ${token}`
    const res = await fetch(api + path, { method, headers, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return JSON.parse(text)
  }
  const prefix = `b${randomBytes(3).toString('hex')}`
  let userCount = 0
  const newUsers = async (count: number): Promise<ChatUser[]> => {
    const started = performance.now()
    const users: ChatUser[] = new Array(count)
    let nextIndex = 0
    // A few at a time: register and login each run scrypt on libuv's pool of four threads.
    await Promise.all(Array.from({ length: Math.min(8, count) }, async () => {
      while (nextIndex < count) {
        const i = nextIndex++
        const username = `${prefix}_${userCount + i}`
        const password = `password-${username}`
        const reg = await http('POST', '/v1/auth/register', { username, password })
        const login = await http('POST', '/v1/auth/login', { username, password })
        users[i] = { id: reg.user.id, token: login.accessToken }
      }
    }))
    userCount += count
    opts.log(`mqchat: registered and logged in ${count} users in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    return users
  }
  const groups = new Map<number, ChatUser[]>()
  const creds = (u: ChatUser): Creds => ({ username: u.id, password: u.token })
  const metricsUrl = ports.metrics ? `http://127.0.0.1:${ports.metrics}/metrics` : null
  const cost = env['PASSWORD_SCRYPT_COST']
  return {
    name: 'mqchat',
    url: `mqtt://127.0.0.1:${ports.mqtt}`,
    wsUrl: ports.ws ? `ws://127.0.0.1:${ports.ws}${env['WS_PATH'] ?? '/mqtt'}` : undefined,
    tlsUrl: ports.mqtts ? `mqtts://127.0.0.1:${ports.mqtts}` : undefined,
    wssUrl: ports.wss ? `wss://127.0.0.1:${ports.wss}${env['WS_PATH'] ?? '/mqtt'}` : undefined,
    pid: child.pid ?? null,
    pgCpu: child.pid ? new PostgresBackendCpu(opts.databaseUrl, child.pid) : undefined,
    notes: [
      `schema ${schema} at ${opts.databaseUrl.replace(/\/\/[^@]*@/, '//')}`,
      ...(cost === BENCH_SCRYPT_COST ? [`PASSWORD_SCRYPT_COST=${cost} (lowered from 32768 so that users are made quickly: only register and login hash passwords, no measured phase does)`] : []),
      ...(certDir ? ['TLS listeners (MQTTS_PORT=0, WSS_PORT=0) with a self-signed certificate, for scenario 2'] : []),
      ...(metricsUrl ? ['METRICS_PORT=0: a metrics listener of its own on 127.0.0.1, read for the heap figure of scenario 4'] : []),
      ...Object.entries(opts.extraEnv).map(([k, v]) => `${k}=${v} (not the default)`),
    ],
    collectGarbage: async () => {
      if (inspectorUrl) await inspectorCall(inspectorUrl, 'HeapProfiler.collectGarbage')
    },
    heapBytes: async () => {
      if (!metricsUrl) return null
      try {
        const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) })).text()
        const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text)
        return m ? Number(m[1]) : null
      } catch {
        return null
      }
    },
    mqchat: { schema, databaseUrl: opts.databaseUrl, apiUrl: api, http, newUsers },
    async prepare(kind, members) {
      if (kind === 'pair') {
        // A direct room is unique per pair of users: a new pair per run.
        const [sender, reader] = await newUsers(2)
        const room = (await http('POST', '/v1/rooms', { type: 'direct', userId: reader!.id }, sender!.token)).room.id as string
        return { topic: `chat/${room}/${sender!.id}`, filter: `chat/${room}/+`, publisher: creds(sender!), subscribers: [creds(reader!)], errorsTopic: `user/${sender!.id}/errors` }
      }
      // The same members (registering is slow), a new group room per run.
      let users = groups.get(members)
      if (!users) {
        users = await newUsers(members)
        groups.set(members, users)
      }
      const [owner, ...rest] = users
      const room = (await http('POST', '/v1/rooms', { type: 'group', name: 'bench fan-out', memberIds: rest.map((u) => u.id) }, owner!.token)).room.id as string
      return { topic: `chat/${room}/${owner!.id}`, filter: `chat/${room}/+`, publisher: creds(owner!), subscribers: users.map(creds), errorsTopic: `user/${owner!.id}/errors` }
    },
    async stop() {
      await stopChild(child, 30_000)
      await dropSchema()
      removeCert()
      if (problems.length > 0) process.stderr.write(`bench: mqchat logged ${problems.length} warnings or errors\n`)
    },
  }
}

/** Calls one Chrome DevTools Protocol method on a Node inspector and resolves with its answer (or after 10 s). */
function inspectorCall(url: string, method: string): Promise<unknown> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url)
    const timer = setTimeout(() => finish(undefined), 10_000)
    const finish = (answer: unknown) => {
      clearTimeout(timer)
      socket.close()
      resolve(answer)
    }
    socket.on('open', () => socket.send(JSON.stringify({ id: 1, method })))
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { id?: number }
      if (message.id === 1) finish(message)
    })
    socket.on('error', () => finish(undefined))
  })
}
