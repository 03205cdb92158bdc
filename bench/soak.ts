/**
 * `npm run soak`: mqchat as shipped (its own process, real Postgres, a fresh
 * schema, as `npm run bench` starts it) under steady chat load for a long
 * time: `clients` clients in two-person rooms send `rate` QoS 1 messages per
 * second in total for `duration`. Reports loss (must be 0), publish ->
 * delivery latency per window (p50/p99/max) and the node's RSS, heap and CPU
 * per window, prints a table and writes bench/results/soak-<timestamp>.json.
 * Exits 1 when anything was lost, refused or disconnected.
 *
 *   npm run soak                                              # 1,000 clients, 500 msg/s, 10 min, 30 s windows
 *   npm run soak -- --clients 100 --rate 100 --duration 60s  # a quick look (also SOAK_CLIENTS, SOAK_RATE, SOAK_DURATION)
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import { sleep } from './common.ts'
import { cpuMsOf, rssOf } from './proc.ts'
import { fmtNum, formatTable, percentiles, type Percentiles } from './stats.ts'
import { directRooms, repoRoot, startMqchat, type Target } from './targets.ts'

/** A setting from `--name value`, `--name=value` or SOAK_<NAME>; durations take s, m or h. */
function setting(name: string, fallback: number, unit: 'count' | 'seconds' = 'count'): number {
  const argv = process.argv.slice(2)
  const at = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  const raw = at < 0 ? process.env[`SOAK_${name.toUpperCase()}`] : argv[at]!.includes('=') ? argv[at]!.split('=')[1] : argv[at + 1]
  if (raw === undefined || raw === '') return fallback
  const m = /^(\d+(?:\.\d+)?)([smh]?)$/.exec(raw)
  const value = m ? Number(m[1]) * (unit === 'seconds' ? { '': 1, s: 1, m: 60, h: 3600 }[m[2] as '' | 's' | 'm' | 'h'] : m[2] ? NaN : 1) : NaN
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`soak: --${name} must be a positive ${unit === 'seconds' ? 'duration (600, 60s, 10m)' : 'number'} (got ${JSON.stringify(raw)})\n`)
    process.exit(2)
  }
  return value
}

const settings = {
  clients: Math.ceil(setting('clients', 1000) / 2) * 2,
  rate: setting('rate', 500),
  durationS: setting('duration', 600, 'seconds'),
  windowS: setting('window', 30, 'seconds'),
  drainS: setting('drain', 30, 'seconds'),
  databaseUrl: process.env['BENCH_DATABASE_URL'] || 'postgres://root@127.0.0.1:5432/test',
}
const log = (line: string) => process.stderr.write(`soak: ${line}\n`)

/** One client: publishes to its own topic in its room, subscribes to its partner's. */
interface Peer { client: MqttClient; topic: string }

async function connectPeers(target: Target, count: number): Promise<Peer[]> {
  const m = target.mqchat
  if (!m) throw new Error('the mqchat target has no REST handle (bench/targets.ts)')
  const users = await m.newUsers(count)
  const rooms = await directRooms(m, users)
  const peers: Peer[] = new Array(count)
  for (let i = 0; i < count; i += 50) {
    await Promise.all(users.slice(i, i + 50).map(async (u, j) => {
      const k = (i + j) >> 1
      const partner = users[(i + j) ^ 1]!
      const client = await mqtt.connectAsync(target.url, { username: u.id, password: u.token, clean: true, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 60, log: () => {} })
      ;(client.stream as Socket).setNoDelay?.(true)
      await client.subscribeAsync(`chat/${rooms[k]}/${partner.id}`, { qos: 1 })
      peers[i + j] = { client, topic: `chat/${rooms[k]}/${u.id}` }
    }))
  }
  log(`${count} clients connected in ${count / 2} direct rooms`)
  return peers
}

/** Counters of one window (messages counted in the window they were sent in). */
interface Window { sent: number; acked: number; delivered: number; latencies: number[]; rssBytes: number | null; heapBytes: number | null; nodeCpuPercent: number | null; loopDelayP99Ms: number }

async function soak(target: Target, peers: Peer[]) {
  const nonce = randomBytes(4).toString('hex')
  const capacity = Math.ceil(settings.rate * settings.durationS * 1.05) + 1000
  const sentAt = new Float64Array(capacity)
  const seen = new Uint8Array(capacity)
  const windowIndex = new Uint32Array(capacity)
  const windows: Window[] = []
  const windowMs = settings.windowS * 1000
  const problems: string[] = []
  let sent = 0, acked = 0, delivered = 0, duplicates = 0, publishErrors = 0
  peers.forEach(({ client }) => {
    client.on('message', (_topic, payload) => {
      const now = performance.now()
      const id = (JSON.parse(payload.toString()) as { clientMsgId?: string }).clientMsgId ?? ''
      const i = id.startsWith(nonce) ? Number(id.slice(nonce.length + 1)) : -1
      if (!(i >= 0 && i < sent)) return
      if (seen[i]) return void duplicates++
      seen[i] = 1
      delivered++
      const w = windows[windowIndex[i]!]!
      w.delivered++
      w.latencies.push(now - sentAt[i]!)
    })
    client.on('close', () => { if (problems.length < 20) problems.push(`a client connection closed at ${((performance.now() - t0) / 1000).toFixed(1)} s`) })
  })
  const loop = monitorEventLoopDelay({ resolution: 10 })
  const newWindow = () => windows.push({ sent: 0, acked: 0, delivered: 0, latencies: [], rssBytes: null, heapBytes: null, nodeCpuPercent: null, loopDelayP99Ms: 0 })
  const t0 = performance.now()
  const end = t0 + settings.durationS * 1000
  let cpuAt = target.pid ? cpuMsOf(target.pid) : null
  let windowEnd = t0 + windowMs
  newWindow()
  loop.enable()
  const closeWindow = async () => {
    const w = windows.at(-1)!
    const cpu = target.pid ? cpuMsOf(target.pid) : null
    w.nodeCpuPercent = cpu !== null && cpuAt !== null ? ((cpu - cpuAt) / windowMs) * 100 : null
    cpuAt = cpu
    w.rssBytes = target.pid ? rssOf(target.pid) : null
    w.heapBytes = (await target.heapBytes?.()) ?? null
    w.loopDelayP99Ms = loop.percentile(99) / 1e6
    loop.reset()
    log(`${windows.length * settings.windowS} s: sent ${fmtNum(sent)}, delivered ${fmtNum(delivered)}, p99 ${fmtNum(percentiles(w.latencies)?.p99 ?? NaN, 1)} ms, RSS ${fmtNum((w.rssBytes ?? NaN) / 2 ** 20)} MB`)
  }
  while (performance.now() < end && sent < capacity) {
    const now = performance.now()
    if (now >= windowEnd) {
      await closeWindow()
      windowEnd += windowMs
      newWindow()
    }
    const due = Math.min(capacity, Math.floor(((now - t0) / 1000) * settings.rate))
    while (sent < due) {
      const i = sent++
      const w = windows.at(-1)!
      w.sent++
      sentAt[i] = performance.now()
      windowIndex[i] = windows.length - 1
      const peer = peers[i % peers.length]!
      peer.client.publish(peer.topic, JSON.stringify({ id: `${nonce}-${i}`, body: `soak message ${i}: are we still on for lunch?` }), { qos: 1 }, (err) => {
        if (err) return void (publishErrors++ < 5 && problems.push(`publish failed: ${err.message}`))
        acked++
        w.acked++
      })
    }
    await sleep(10)
  }
  await closeWindow()
  const drainEnd = performance.now() + settings.drainS * 1000
  while (delivered < sent && performance.now() < drainEnd) await sleep(100)
  loop.disable()
  return { sent, acked, delivered, duplicates, publishErrors, loss: sent - delivered, elapsedS: (performance.now() - t0) / 1000, windows, problems }
}

function report(result: Awaited<ReturnType<typeof soak>>): { table: string; summary: Record<string, unknown>; windows: unknown[] } {
  const mb = (b: number | null) => (b === null ? 'n/a' : fmtNum(b / 2 ** 20))
  const ms = (p: Percentiles | null, k: 'p50' | 'p99' | 'max') => (p ? fmtNum(p[k], 1) : 'n/a')
  const rows = [['window', 'sent', 'acked', 'delivered', 'p50 ms', 'p99 ms', 'max ms', 'node RSS MB', 'heap MB', 'node CPU %', 'gen loop p99 ms']]
  const windows = result.windows.map((w, k) => {
    const p = percentiles(w.latencies)
    rows.push([`${k * settings.windowS}-${(k + 1) * settings.windowS} s`, fmtNum(w.sent), fmtNum(w.acked), fmtNum(w.delivered), ms(p, 'p50'), ms(p, 'p99'), ms(p, 'max'), mb(w.rssBytes), mb(w.heapBytes), w.nodeCpuPercent === null ? 'n/a' : fmtNum(w.nodeCpuPercent), fmtNum(w.loopDelayP99Ms, 1)])
    const { latencies: _latencies, ...counts } = w
    return { ...counts, latency: p }
  })
  const rss = result.windows.map((w) => w.rssBytes).filter((b): b is number => b !== null)
  const overall = percentiles(result.windows.flatMap((w) => w.latencies))
  const summary = {
    sent: result.sent, acked: result.acked, delivered: result.delivered, loss: result.loss, duplicates: result.duplicates, publishErrors: result.publishErrors,
    rateAchieved: result.sent / (settings.durationS), latency: overall,
    rssFirstBytes: rss[0] ?? null, rssLastBytes: rss.at(-1) ?? null, rssMaxBytes: rss.length ? Math.max(...rss) : null,
    problems: result.problems,
  }
  const lines = [formatTable(rows), '',
    `loss ${result.loss} of ${fmtNum(result.sent)} (acked ${fmtNum(result.acked)}, publish errors ${result.publishErrors}, duplicates ${result.duplicates}); ` +
    `overall p50 ${ms(overall, 'p50')} ms, p99 ${ms(overall, 'p99')} ms, max ${ms(overall, 'max')} ms; ` +
    `node RSS ${mb(summary.rssFirstBytes)} MB after the first window, ${mb(summary.rssLastBytes)} MB at the end, ${mb(summary.rssMaxBytes)} MB at most`,
    ...result.problems.map((p) => `problem: ${p}`)]
  return { table: lines.join('\n'), summary, windows }
}

async function main(): Promise<number> {
  log(`${settings.clients} clients, ${settings.rate} msg/s, ${settings.durationS} s, windows of ${settings.windowS} s`)
  const loadBefore = loadavg()
  const target = await startMqchat({ databaseUrl: settings.databaseUrl, extraEnv: {}, nodeFlags: [], log })
  process.once('SIGINT', () => { void target.stop().finally(() => process.exit(130)) })
  let peers: Peer[] = []
  try {
    peers = await connectPeers(target, settings.clients)
    const result = await soak(target, peers)
    const { table, summary, windows } = report(result)
    process.stdout.write(`\n${table}\n`)
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const dir = join(repoRoot, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    let commit: string | null = null
    try { commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch { /* not a checkout */ }
    const file = join(dir, `soak-${stamp}.json`)
    writeFileSync(file, JSON.stringify({ settings: { ...settings, databaseUrl: settings.databaseUrl.replace(/\/\/[^@]*@/, '//') }, notes: target.notes, machine: { cpus: cpus().length, model: cpus()[0]?.model, totalmem: totalmem(), loadavgBefore: loadBefore, loadavgAfter: loadavg(), node: process.version }, commit, summary, windows }, null, 2))
    process.stdout.write(`\nresults: ${file}\n`)
    return result.loss === 0 && result.publishErrors === 0 && result.problems.length === 0 ? 0 : 1
  } finally {
    await Promise.all(peers.map((p) => p.client.endAsync(true).catch(() => {})))
    await sleep(1000) // let the node see the disconnections before it is stopped
    await target.stop()
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})
