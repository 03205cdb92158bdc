import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { runMain, type MainProcess } from '../helpers/process.ts'

/** Settings every fault test's node runs with: no rate or connection limits in the way of a burst. */
export const FAULT_NODE_ENV = {
  LOG_LEVEL: 'info',
  MESSAGE_RATE_PER_MINUTE: '100000000', MESSAGE_RATE_BURST: '1000000',
  CONNECTIONS_PER_IP_PER_SECOND: '1000000', CONNECTIONS_PER_USER: '1000',
  SYNC_ROOM_MAX: '1000',
}

/** A fresh schema name for one test's database. */
export const newSchema = () => `t_fault_${process.pid}_${randomBytes(4).toString('hex')}`

/** A node as its own process, with a REST client for its HTTP port. */
export interface ChildNode {
  proc: MainProcess
  ports: { mqtt: number; ws: number; http: number }
  mqttUrl: string
  http(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>
  /** Registers and logs in `username`. */
  user(username: string): Promise<{ id: string; token: string }>
  /** Whether the process is still running. */
  alive(): boolean
  /** Its last log lines and stderr, for a failure message. */
  tail(): string
}

/** Starts `main.ts` as a child process with `env` (plus {@link FAULT_NODE_ENV}); SIGKILLed when `t` ends. */
export async function startChild(t: Test, env: Record<string, string | undefined>): Promise<ChildNode> {
  const proc = runMain({ ...FAULT_NODE_ENV, ...env })
  t.teardown(() => { proc.child.kill('SIGKILL') })
  let stderr = ''
  proc.child.stderr!.on('data', (chunk) => { stderr = (stderr + chunk).slice(-4000) })
  const { ports } = await proc.started
  const base = `http://127.0.0.1:${ports.http}`
  const http: ChildNode['http'] = async (method, path, body, token) => {
    const headers: Record<string, string> = {}
    if (token) headers['authorization'] = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) })
    const text = await res.text()
    let parsed: unknown = text
    try { parsed = text ? JSON.parse(text) : undefined } catch { /* a non-JSON body (e.g. metrics) stays text */ }
    return { status: res.status, body: parsed }
  }
  return {
    proc, ports, http,
    mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
    alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
    tail: () => [...proc.lines.slice(-5), stderr].join('\n'),
    async user(username) {
      const password = `password-${username}`
      const reg = await http('POST', '/v1/auth/register', { username, password })
      if (reg.status !== 201) throw new Error(`register ${username}: ${reg.status} ${JSON.stringify(reg.body)}`)
      const login = await http('POST', '/v1/auth/login', { username, password })
      if (login.status !== 200) throw new Error(`login ${username}: ${login.status}`)
      return { id: reg.body.user.id, token: login.body.accessToken }
    },
  }
}

/**
 * Catch-up as a client does it after a reconnect: `POST /v1/sync` from the
 * last id seen per room, asking again while `hasMore`. Returns every
 * message received, by room.
 */
export async function catchUp(node: Pick<ChildNode, 'http'>, token: string, lastSeen: Record<string, number>): Promise<Map<string, Array<{ id: number; clientMsgId: string }>>> {
  const got = new Map<string, Array<{ id: number; clientMsgId: string }>>()
  const positions = { ...lastSeen }
  for (let round = 0; round < 1000; round++) {
    const res = await node.http('POST', '/v1/sync', { rooms: positions }, token)
    if (res.status !== 200) throw new Error(`sync: ${res.status} ${JSON.stringify(res.body)}`)
    let more = false
    for (const [roomId, page] of Object.entries(res.body.rooms as Record<string, { messages: Array<{ id: number; clientMsgId: string }>; hasMore: boolean }>)) {
      const list = got.get(roomId) ?? []
      list.push(...page.messages.map((m) => ({ id: m.id, clientMsgId: m.clientMsgId })))
      got.set(roomId, list)
      if (page.messages.length > 0) positions[roomId] = page.messages.at(-1)!.id
      more ||= page.hasMore
    }
    if (!more) return got
  }
  throw new Error('sync did not finish within 1000 rounds')
}

/** Whether the node serves `GET /readyz` (another change may add it); its status otherwise. */
export async function readiness(node: Pick<ChildNode, 'http'>): Promise<number | 'absent'> {
  const res = await node.http('GET', '/readyz')
  return res.status === 404 && (res.body as { code?: string } | undefined)?.code === 'not_found' ? 'absent' : res.status
}

/** `work`, or a rejection naming `what` after `ms` (the timer is cleared, so it holds no process open). */
export async function within<T>(work: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what()}`)), ms) })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits until `count()` has not changed for `quietMs` (deliveries still on their way have arrived), at most `maxMs`. */
export async function settled(count: () => number, quietMs: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs
  let last = count()
  let since = Date.now()
  while (Date.now() - since < quietMs && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    if (count() !== last) [last, since] = [count(), Date.now()]
  }
}

/** Per room, the last number up to which every message was seen: where a gap-aware client catches up from. */
export function lastWithoutHole(seen: ReadonlyMap<string, ReadonlySet<number>>): Record<string, number> {
  return Object.fromEntries([...seen].map(([roomId, ids]) => {
    let n = 0
    while (ids.has(n + 1)) n++
    return [roomId, n]
  }))
}
