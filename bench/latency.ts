/**
 * Scenario 2, chat latency: `clients` clients in two-person rooms, `rate`
 * messages per second in total for `durationS`, QoS 1; publish -> delivery
 * latency percentiles and loss. mqchat over TCP, WebSocket, and (with a
 * self-signed certificate) TLS and secure WebSocket; Aedes
 * with and without TCP_NODELAY; Mosquitto as configured. The clients are
 * spread over `procs` generator processes (both members of a room in one).
 */
import { randomBytes } from 'node:crypto'
import { allNext, startJsonChild, type JsonChild } from './child.ts'
import type { LatencyClient, LatencyConfig, LatencyResult } from './latency-load.ts'
import { cpuMsOf } from './proc.ts'
import { fmtNum, fmtSpread, formatTable, percentiles, percentileSpreads, spreadOf, type Percentiles } from './stats.ts'
import { directRooms, startAedes, type Target } from './targets.ts'

/** Scenario 2's settings (BENCH_LATENCY_*). */
export interface LatencySettings {
  runs: number
  clients: number
  rate: number
  durationS: number
  procs: number
  drainS: number
}

interface Variant {
  label: string
  target: Target
  url: string
}

/** One run of one variant. */
export interface LatencyRecord {
  run: number
  label: string
  latency: Percentiles | null
  sent: number
  loss: number
  duplicates: number
  /** Messages published per second, as achieved. */
  rate: number
  brokerCpuPercent: number | null
  /** Per generator process, % of one core. */
  generatorCpuPercent: number[]
  loopDelayP99Ms: number
  errors: string[]
}

const FILLER = 'are we still on for lunch?' // with the timestamp, a 40-odd character body
const randomId = () => randomBytes(9).toString('base64url')

/** Clients in room order (2k and 2k+1 share a room), each subscribed to its partner's topic. */
async function clientsFor(target: Target, count: number, cache: Map<Target, LatencyClient[]>, log: (l: string) => void): Promise<LatencyClient[]> {
  const cached = cache.get(target)
  if (cached) return cached
  const out: LatencyClient[] = []
  if (!target.mqchat) {
    for (let k = 0; k < count / 2; k++) {
      const [room, a, b] = [randomId(), randomId(), randomId()]
      out.push({ creds: {}, topic: `chat/${room}/${a}`, filter: `chat/${room}/${b}` }, { creds: {}, topic: `chat/${room}/${b}`, filter: `chat/${room}/${a}` })
    }
  } else {
    const m = target.mqchat
    const users = await m.newUsers(count)
    const started = performance.now()
    const rooms = await directRooms(m, users)
    log(`mqchat: made ${count / 2} direct rooms in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    for (let k = 0; k < count / 2; k++) {
      const [a, b] = [users[2 * k]!, users[2 * k + 1]!]
      out.push(
        { creds: { username: a.id, password: a.token }, topic: `chat/${rooms[k]}/${a.id}`, filter: `chat/${rooms[k]}/${b.id}` },
        { creds: { username: b.id, password: b.token }, topic: `chat/${rooms[k]}/${b.id}`, filter: `chat/${rooms[k]}/${a.id}` },
      )
    }
  }
  cache.set(target, out)
  return out
}

async function runOnce(v: Variant, clients: LatencyClient[], s: LatencySettings, run: number): Promise<LatencyRecord> {
  const pairs = clients.length / 2
  const shares: LatencyClient[][] = Array.from({ length: s.procs }, () => [])
  for (let k = 0; k < pairs; k++) shares[k % s.procs]!.push(clients[2 * k]!, clients[2 * k + 1]!)
  const children: JsonChild[] = shares.filter((c) => c.length > 0).map((share, p) => {
    const config: LatencyConfig = { url: v.url, clients: share, ratePerSec: (s.rate * share.length) / clients.length, durationMs: s.durationS * 1000, drainMs: s.drainS * 1000, filler: FILLER }
    return startJsonChild('bench/latency-load.ts', config, `latency ${p + 1}`)
  })
  try {
    await allNext(children, 'ready', 180_000)
    const cpuBefore = v.target.pid ? cpuMsOf(v.target.pid) : null
    const t0 = performance.now()
    for (const c of children) c.send('go')
    const results = (await allNext<{ result: LatencyResult }>(children, 'result', (s.durationS + s.drainS) * 1000 + 60_000)).map((m) => m.result)
    const wallMs = performance.now() - t0
    const cpuAfter = v.target.pid ? cpuMsOf(v.target.pid) : null
    const all = results.flatMap((r) => r.latencies)
    const sent = results.reduce((n, r) => n + r.sent, 0)
    return {
      run, label: v.label, latency: percentiles(all), sent,
      loss: results.reduce((n, r) => n + r.loss, 0),
      duplicates: results.reduce((n, r) => n + r.duplicates, 0),
      rate: sent / (Math.max(...results.map((r) => r.publishMs)) / 1000),
      brokerCpuPercent: cpuBefore !== null && cpuAfter !== null ? (100 * (cpuAfter - cpuBefore)) / wallMs : null,
      generatorCpuPercent: results.map((r) => (100 * r.cpuMs) / wallMs),
      loopDelayP99Ms: Math.max(...results.map((r) => r.loopDelayP99Ms)),
      errors: results.flatMap((r) => (r.error ? [r.error] : [])),
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()))
  }
}

/** Runs scenario 2 against every target (mqchat twice: TCP and WebSocket; plus an Aedes without TCP_NODELAY). */
export async function latencyScenario(targets: Target[], s: LatencySettings, log: (l: string) => void): Promise<{ title: string; text: string; report: unknown; bad: boolean }> {
  if (s.clients % 2 !== 0) throw new Error('BENCH_LATENCY_CLIENTS must be even (two-person rooms)')
  const title = `Scenario 2, chat latency: ${s.clients} clients in ${s.clients / 2} two-person rooms, ${s.rate} msg/s in total for ${s.durationS} s, QoS 1, over ${s.procs} generator processes`
  log(`\n${title}`)
  const extra: Target[] = []
  const variants: Variant[] = []
  for (const t of targets) {
    if (t.name === 'mqchat') {
      variants.push({ label: 'mqchat tcp', target: t, url: t.url })
      if (t.wsUrl) variants.push({ label: 'mqchat ws', target: t, url: t.wsUrl })
      if (t.tlsUrl) variants.push({ label: 'mqchat tls', target: t, url: t.tlsUrl })
      if (t.wssUrl) variants.push({ label: 'mqchat wss', target: t, url: t.wssUrl })
    } else if (t.name === 'aedes') {
      variants.push({ label: 'aedes nodelay', target: t, url: t.url })
      const nagle = await startAedes({ noDelay: false })
      extra.push(nagle)
      variants.push({ label: 'aedes nagle', target: nagle, url: nagle.url })
    } else variants.push({ label: 'mosquitto', target: t, url: t.url })
  }
  const cache = new Map<Target, LatencyClient[]>()
  const records: LatencyRecord[] = []
  try {
    for (let run = 1; run <= s.runs; run++) {
      const order = variants.map((_, i) => variants[(i + run - 1) % variants.length]!)
      for (const v of order) {
        const r = await runOnce(v, await clientsFor(v.target, s.clients, cache, log), s, run)
        records.push(r)
        log(`  run ${run} ${v.label.padEnd(14)} p50 ${r.latency ? fmtNum(r.latency.p50, 2) : 'n/a'} p99 ${r.latency ? fmtNum(r.latency.p99, 2) : 'n/a'} max ${r.latency ? fmtNum(r.latency.max, 1) : 'n/a'} ms, loss ${r.loss}, ${fmtNum(r.rate)} msg/s, broker CPU ${r.brokerCpuPercent === null ? 'n/a' : fmtNum(r.brokerCpuPercent) + '%'}, generators ${r.generatorCpuPercent.map((c) => fmtNum(c) + '%').join('/')}${r.errors.length ? `, ERROR ${r.errors[0]}` : ''}`)
      }
    }
  } finally {
    await Promise.all(extra.map((t) => t.stop()))
  }
  const rows = [['variant', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'loss', 'dup', 'msg/s sent', 'broker CPU', 'generator CPU (max proc)', 'gen. loop delay p99']]
  const summaries: Record<string, unknown> = {}
  for (const v of variants) {
    const rs = records.filter((r) => r.label === v.label)
    const p = percentileSpreads(rs.map((r) => r.latency))
    const summary = {
      ...p, lossMax: Math.max(...rs.map((r) => r.loss)), duplicatesMax: Math.max(...rs.map((r) => r.duplicates)),
      rate: spreadOf(rs.map((r) => r.rate)), brokerCpuPercent: spreadOf(rs.map((r) => r.brokerCpuPercent)),
      generatorCpuPercentMaxProc: spreadOf(rs.map((r) => Math.max(...r.generatorCpuPercent))), loopDelayP99Ms: spreadOf(rs.map((r) => r.loopDelayP99Ms)),
      errors: rs.flatMap((r) => r.errors.map((e) => `run ${r.run}: ${e}`)),
    }
    summaries[v.label] = summary
    rows.push([v.label, fmtSpread(p.p50, 2), fmtSpread(p.p95, 2), fmtSpread(p.p99, 2), fmtSpread(p.max, 1), String(summary.lossMax), String(summary.duplicatesMax), fmtSpread(summary.rate), summary.brokerCpuPercent ? `${fmtNum(summary.brokerCpuPercent.median)}%` : 'n/a', summary.generatorCpuPercentMaxProc ? `${fmtNum(summary.generatorCpuPercentMaxProc.median)}%` : 'n/a', summary.loopDelayP99Ms ? `${fmtNum(summary.loopDelayP99Ms.median, 1)} ms` : 'n/a'])
  }
  const out = [title, `${s.runs} runs: median (min-max) of each run's percentile`, formatTable(rows),
    '(Latency: publish -> delivery to the room partner, performance.now() carried in the body, both clients in one generator process. Generator CPU: the busiest generator process, % of one core; a generator near 100%, or a loop delay near the latencies, means the generator adds to the figures.)',
    'issue target: mqchat p99 at most 5 ms on every listener (the anchors with TCP_NODELAY off show what Nagle meeting delayed ACKs costs)']
  let bad = false
  for (const [label, sum] of Object.entries(summaries) as Array<[string, { lossMax: number; errors: string[] }]>) {
    if (sum.lossMax > 0) out.push(`LOSS: ${label} lost up to ${sum.lossMax} messages in a run`)
    for (const e of sum.errors) out.push(`${label} ${e}`)
    if (sum.lossMax > 0 || sum.errors.length > 0) bad = true
  }
  return { title, text: out.join('\n'), report: { title, settings: s, summaries, runs: records }, bad }
}
