/**
 * Scenario 4, connections: `count` idle MQTT connections (valid tokens for
 * mqchat, a few users sharing them), opened by raw-socket generators with a
 * bounded number of CONNECTs in flight: the connect rate, and the broker's
 * memory per connection (VmRSS before and after, and its V8 heap when it can
 * tell, divided by the connections held).
 */
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { allNext, startJsonChild, type JsonChild } from './child.ts'
import type { Creds } from './common.ts'
import type { ConnectConfig, ConnectResult } from './connect-load.ts'
import { cpuMsOf, rssOf } from './proc.ts'
import { fmtNum, fmtSpread, formatTable, spreadOf } from './stats.ts'
import type { Target } from './targets.ts'
import { sleep } from './common.ts'

/** Scenario 4's settings (BENCH_CONN_*). */
export interface ConnSettings {
  runs: number
  count: number
  inflight: number
  procs: number
  users: number
  settleMs: number
}

/** One run against one target. */
export interface ConnRecord {
  run: number
  target: string
  asked: number
  connected: number
  failed: number
  /** Connections still open after the settle time. */
  held: number
  connectsPerSec: number
  connackP99Ms: number | null
  /** Broker CPU from the first CONNECT to the last CONNACK, microseconds per accepted connection. */
  brokerUsPerConnect: number | null
  rssPerConnection: number | null
  heapPerConnection: number | null
  generatorCpuPercent: number[]
  errors: string[]
}

/** The open-files limit of `pid` (or this process): soft, or hard (what a child may raise its own to). */
export function openFilesLimit(pid: number | 'self' = 'self', which: 'soft' | 'hard' = 'soft'): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))
    const value = m?.[which === 'soft' ? 1 : 2]
    return value === undefined ? null : value === 'unlimited' ? Infinity : Number(value)
  } catch {
    return null
  }
}

async function runOnce(t: Target, creds: Creds[], count: number, s: ConnSettings, procs: number, run: number): Promise<ConnRecord> {
  const url = new URL(t.url)
  const prefix = `b4${randomBytes(3).toString('hex')}-`
  const children: JsonChild[] = Array.from({ length: procs }, (_, p) => {
    const share = Math.floor(count / procs) + (p < count % procs ? 1 : 0)
    const config: ConnectConfig = { host: url.hostname, port: Number(url.port), creds, count: share, inflight: Math.max(1, Math.round(s.inflight / procs)), clientIdPrefix: `${prefix}${p}-`, connectTimeoutMs: 30_000 }
    return startJsonChild('bench/connect-load.ts', config, `connect ${p + 1}`)
  })
  try {
    await allNext(children, 'ready', 60_000)
    await sleep(s.settleMs)
    await t.collectGarbage?.()
    const rssBefore = t.pid ? rssOf(t.pid) : null
    const heapBefore = t.heapBytes ? await t.heapBytes() : null
    const cpuBefore = t.pid ? cpuMsOf(t.pid) : null
    for (const c of children) c.send('go')
    const results = (await allNext<{ result: ConnectResult }>(children, 'result', 600_000)).map((m) => m.result)
    const cpuAfter = t.pid ? cpuMsOf(t.pid) : null
    await sleep(s.settleMs)
    await t.collectGarbage?.()
    const rssAfter = t.pid ? rssOf(t.pid) : null
    const heapAfter = t.heapBytes ? await t.heapBytes() : null
    for (const c of children) c.send('count')
    const held = (await allNext<{ open: number }>(children, 'count', 30_000)).reduce((n, m) => n + m.open, 0)
    const connected = results.reduce((n, r) => n + r.connected, 0)
    const slowest = Math.max(...results.map((r) => r.elapsedMs))
    return {
      run, target: t.label ?? t.name, asked: count, connected, failed: results.reduce((n, r) => n + r.failed, 0), held,
      connectsPerSec: connected / (slowest / 1000),
      connackP99Ms: Math.max(...results.map((r) => r.connackMs?.p99 ?? Number.NaN)),
      brokerUsPerConnect: cpuBefore !== null && cpuAfter !== null && connected > 0 ? (1000 * (cpuAfter - cpuBefore)) / connected : null,
      rssPerConnection: rssBefore !== null && rssAfter !== null && held > 0 ? (rssAfter - rssBefore) / held : null,
      heapPerConnection: heapBefore !== null && heapAfter !== null && held > 0 ? (heapAfter - heapBefore) / held : null,
      generatorCpuPercent: results.map((r) => (100 * r.cpuMs) / slowest),
      errors: results.flatMap((r) => r.errors),
    }
  } finally {
    await Promise.all(children.map((c) => c.stop(30_000)))
    await sleep(s.settleMs) // let the broker notice the closes before the next run
  }
}

/** Runs scenario 4 against every target. */
export async function connectionsScenario(targets: Target[], s: ConnSettings, log: (l: string) => void): Promise<{ title: string; text: string; report: unknown; bad: boolean }> {
  const notes: string[] = []
  // Each generator process holds its share of sockets: keep it under the open-files limit a child can raise its own to.
  const ownLimit = openFilesLimit('self', 'hard') ?? 1024
  const procs = Math.max(s.procs, Math.ceil(s.count / Math.max(1, ownLimit - 200)))
  if (procs !== s.procs) notes.push(`${procs} generator processes instead of ${s.procs}: open-files limit ${ownLimit} per process`)
  const title = `Scenario 4, connections: ${s.count} idle MQTT connections (clean session, keepalive 60 s), at most ${s.inflight} CONNECTs in flight, over ${procs} generator processes`
  log(`\n${title}`)
  const creds = new Map<Target, Creds[]>()
  for (const t of targets) {
    if (!t.mqchat) creds.set(t, [{}])
    else creds.set(t, (await t.mqchat.newUsers(s.users)).map((u) => ({ username: u.id, password: u.token })))
  }
  const counts = new Map<Target, number>()
  for (const t of targets) {
    const limit = t.pid ? openFilesLimit(t.pid) : null
    const n = limit !== null && limit - 200 < s.count ? Math.max(1, limit - 200) : s.count
    if (n !== s.count) notes.push(`${t.name}: ${n} connections instead of ${s.count} (its open-files limit is ${limit})`)
    counts.set(t, n)
  }
  const records: ConnRecord[] = []
  for (let run = 1; run <= s.runs; run++) {
    const order = targets.map((_, i) => targets[(i + run - 1) % targets.length]!)
    for (const t of order) {
      const r = await runOnce(t, creds.get(t)!, counts.get(t)!, s, procs, run)
      records.push(r)
      log(`  run ${run} ${r.target.padEnd(9)} ${r.connected}/${r.asked} connected (${r.held} held), ${fmtNum(r.connectsPerSec)} connects/s (broker ${r.brokerUsPerConnect === null ? 'n/a' : fmtNum(r.brokerUsPerConnect)} us CPU each), RSS ${r.rssPerConnection === null ? 'n/a' : fmtNum(r.rssPerConnection)} B/conn, heap ${r.heapPerConnection === null ? 'n/a' : fmtNum(r.heapPerConnection)} B/conn, generators ${r.generatorCpuPercent.map((c) => fmtNum(c) + '%').join('/')}${r.errors.length ? `, errors: ${r.errors.join('; ')}` : ''}`)
    }
  }
  const rows = [['target', 'connects/s', 'CONNACK p99 ms', 'broker us/connect', 'RSS B/conn', 'heap B/conn', 'held/asked', 'failed', 'generator CPU (max proc)']]
  const summaries: Record<string, unknown> = {}
  let bad = false
  for (const t of targets) {
    const rs = records.filter((r) => r.target === (t.label ?? t.name))
    const sum = {
      connectsPerSec: spreadOf(rs.map((r) => r.connectsPerSec)), connackP99Ms: spreadOf(rs.map((r) => r.connackP99Ms)), brokerUsPerConnect: spreadOf(rs.map((r) => r.brokerUsPerConnect)),
      rssPerConnection: spreadOf(rs.map((r) => r.rssPerConnection)), heapPerConnection: spreadOf(rs.map((r) => r.heapPerConnection)),
      heldMin: Math.min(...rs.map((r) => r.held)), asked: counts.get(t)!, failedMax: Math.max(...rs.map((r) => r.failed)),
      generatorCpuPercentMaxProc: spreadOf(rs.map((r) => Math.max(...r.generatorCpuPercent))),
    }
    if (sum.failedMax > 0 || sum.heldMin < sum.asked) bad = true
    summaries[t.label ?? t.name] = sum
    rows.push([t.label ?? t.name, fmtSpread(sum.connectsPerSec), fmtSpread(sum.connackP99Ms, 1), fmtSpread(sum.brokerUsPerConnect), fmtSpread(sum.rssPerConnection), fmtSpread(sum.heapPerConnection), `${sum.heldMin}/${sum.asked}`, String(sum.failedMax), sum.generatorCpuPercentMaxProc ? `${fmtNum(sum.generatorCpuPercentMaxProc.median)}%` : 'n/a'])
  }
  const ratio = (k: 'connectsPerSec' | 'rssPerConnection', other: string) => {
    const m = (summaries['mqchat'] as Record<string, { median: number } | null> | undefined)?.[k]?.median
    const o = (summaries[other] as Record<string, { median: number } | null> | undefined)?.[k]?.median
    return m === undefined || o === undefined || !o ? 'n/a' : (m / o).toFixed(2)
  }
  const out = [title, `${s.runs} runs: median (min-max)`, formatTable(rows),
    `(Broker us/connect: its CPU during the connect phase per accepted connection, the figure that survives a busy machine. Memory: VmRSS of the broker ${s.settleMs} ms after the last CONNACK minus before the first CONNECT, over the connections still open; heap: V8 heap in use (mqchat from its metrics, aedes asked); both after a full GC forced in the Node brokers (aedes: --expose-gc; mqchat: its inspector on 127.0.0.1). Mosquitto is shared with other users of this machine: its figures include their activity.)`]
  if (summaries['mqchat']) out.push(`ratio mqchat/aedes: connect rate ${ratio('connectsPerSec', 'aedes')}, RSS per connection ${ratio('rssPerConnection', 'aedes')}   mqchat/mosquitto: connect rate ${ratio('connectsPerSec', 'mosquitto')}, RSS per connection ${ratio('rssPerConnection', 'mosquitto')}`)
  out.push(...notes.map((n) => `note: ${n}`))
  for (const r of records) if (r.failed > 0 || r.held < r.asked) out.push(`${r.target} run ${r.run}: ${r.failed} failed, ${r.held} of ${r.asked} held${r.errors.length ? ` (${r.errors.join('; ')})` : ''}`)
  return { title, text: out.join('\n'), report: { title, settings: s, procs, notes, summaries, runs: records }, bad }
}
