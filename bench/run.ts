/**
 * `npm run bench`: runs the scenarios of issue 9 (1: throughput, 6: bytes on
 * the wire, 3: fan-out, here; 2: chat latency, 4: connections, 5: history and
 * the Postgres ceiling in modules of their own) against mqchat, vanilla Aedes
 * and Mosquitto in one run, prints a table and writes
 * bench/results/<timestamp>.json.
 * Settings: see bench/README.md (BENCH_* environment variables).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { CONFIG_SPEC } from '../shared/config.ts'
import { killChildren } from './child.ts'
import { connectionsScenario } from './connections.ts'
import { historyScenario } from './history.ts'
import { latencyScenario } from './latency.ts'
import { ceilingScenario } from './pg-ceiling.ts'
import { median, type LoadConfig, type LoadMessage, type LoadResult, type ScenarioName } from './common.ts'
import { cpuMsOf, PostgresBackendCpu, rssOf } from './proc.ts'
import { intEnv } from './stats.ts'
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile-summary.ts'
import { repoRoot, startAedes, startMqchat, useMosquitto, type Target, type TargetName } from './targets.ts'

// ---------------------------------------------------------------- settings

const settings = {
  runs: intEnv('BENCH_RUNS', 3),
  scenarios: (process.env['BENCH_SCENARIOS'] || '1,6,3,2,4,5,pg').split(',').map((s) => s.trim()).filter(Boolean),
  targets: (process.env['BENCH_TARGETS'] || 'mqchat,aedes,mosquitto').split(',').map((s) => s.trim()).filter(Boolean) as TargetName[],
  messages: intEnv('BENCH_MESSAGES', 50_000),
  window: intEnv('BENCH_WINDOW', 500),
  wireMessages: intEnv('BENCH_WIRE_MESSAGES', 1000),
  fanoutMembers: intEnv('BENCH_FANOUT_MEMBERS', 100),
  fanoutMessages: intEnv('BENCH_FANOUT_MESSAGES', 2000),
  fanoutWindow: intEnv('BENCH_FANOUT_WINDOW', 100),
  windowMode: (process.env['BENCH_WINDOW_MODE'] || 'delivery') as 'delivery' | 'puback',
  timeoutMs: intEnv('BENCH_TIMEOUT_S', 300) * 1000,
  idleMs: intEnv('BENCH_IDLE_S', 10) * 1000,
  databaseUrl: process.env['BENCH_DATABASE_URL'] || 'postgres://root@127.0.0.1:5432/test',
  mosquittoUrl: process.env['BENCH_MOSQUITTO_URL'] || 'mqtt://127.0.0.1:1883',
  cpuProfile: process.env['BENCH_CPU_PROF'] === '1',
  tls: process.env['BENCH_TLS'] !== '0',
  latency: {
    runs: 0, clients: intEnv('BENCH_LATENCY_CLIENTS', 1000, 2), rate: intEnv('BENCH_LATENCY_RATE', 2000),
    durationS: intEnv('BENCH_LATENCY_SECONDS', 20), procs: intEnv('BENCH_LATENCY_PROCS', 2), drainS: intEnv('BENCH_LATENCY_DRAIN_S', 5),
  },
  connections: {
    runs: 0, count: intEnv('BENCH_CONN_COUNT', 10_000), inflight: intEnv('BENCH_CONN_INFLIGHT', 100), procs: intEnv('BENCH_CONN_PROCS', 2),
    users: intEnv('BENCH_CONN_USERS', 10), settleMs: intEnv('BENCH_CONN_SETTLE_MS', 2000),
  },
  history: {
    runs: 0, messages: intEnv('BENCH_HISTORY_MESSAGES', 1_000_000), rooms: intEnv('BENCH_HISTORY_ROOMS', 1000),
    requests: intEnv('BENCH_HISTORY_REQUESTS', 300), warmup: intEnv('BENCH_HISTORY_WARMUP', 1000), seriesS: intEnv('BENCH_HISTORY_SERIES_S', 60), concurrency: intEnv('BENCH_HISTORY_CONCURRENCY', 4),
  },
  ceiling: { runs: 0, rows: intEnv('BENCH_CEILING_ROWS', 100_000), batch: intEnv('BENCH_CEILING_BATCH', 256), connections: intEnv('BENCH_CEILING_CONNECTIONS', 2) },
}
settings.latency.runs = settings.connections.runs = settings.history.runs = settings.ceiling.runs = settings.runs
if (settings.latency.clients % 2 !== 0) {
  process.stderr.write(`bench: BENCH_LATENCY_CLIENTS must be even: two-person rooms (got ${settings.latency.clients})\n`)
  process.exit(2)
}
if (settings.windowMode !== 'delivery' && settings.windowMode !== 'puback') {
  process.stderr.write(`bench: BENCH_WINDOW_MODE is delivery or puback (got ${settings.windowMode})\n`)
  process.exit(2)
}
for (const t of settings.targets) {
  if (!['mqchat', 'aedes', 'mosquitto'].includes(t)) {
    process.stderr.write(`bench: unknown target ${t} in BENCH_TARGETS (mqchat, aedes, mosquitto)\n`)
    process.exit(2)
  }
}
for (const s of settings.scenarios) {
  if (!['1', '2', '3', '4', '5', '6', 'pg'].includes(s)) {
    process.stderr.write(`bench: unknown scenario ${s} (BENCH_SCENARIOS takes 1, 2, 3, 4, 5, 6 and pg, the Postgres ceiling)\n`)
    process.exit(2)
  }
}
for (const host of [new URL(settings.databaseUrl).hostname]) {
  if (host !== '127.0.0.1' && host !== 'localhost') {
    process.stderr.write(`bench: BENCH_DATABASE_URL must point at 127.0.0.1 (got ${host})\n`)
    process.exit(2)
  }
}
/** mqchat settings to change, from BENCH_MQCHAT_<NAME> (e.g. BENCH_MQCHAT_WRITE_BATCH_MAX=512). */
const mqchatEnv: Record<string, string> = {}
for (const name of Object.keys(CONFIG_SPEC)) {
  const value = process.env[`BENCH_MQCHAT_${name}`]
  if (value) mqchatEnv[name] = value
}

const BODY_64 = 'Throughput test message: sixty-four bytes of plain ASCII text...'
const BODY_40 = 'Are we still on for lunch tomorrow at 1?'

interface ScenarioSpec {
  key: string
  name: ScenarioName
  title: string
  kind: 'pair' | 'group'
  members: number
  messages: number
  window: number
  windowMode: 'puback' | 'delivery'
  body: string
}

function windowWords(): string {
  return settings.windowMode === 'delivery' ? 'messages published and not yet PUBACKed and delivered to every subscriber' : 'publishes awaiting their PUBACK'
}

const SCENARIOS: Record<string, ScenarioSpec> = {
  '1': {
    key: '1', name: 'throughput', kind: 'pair', members: 2, messages: settings.messages, window: settings.window, windowMode: settings.windowMode, body: BODY_64,
    title: `Scenario 1, throughput: 1 publisher -> 1 subscriber, QoS 1, 64-byte bodies, ${settings.messages} messages, window ${settings.window} (${windowWords()})`,
  },
  '6': {
    key: '6', name: 'wire', kind: 'pair', members: 2, messages: settings.wireMessages, window: 1, windowMode: 'delivery', body: BODY_40,
    title: `Scenario 6, bytes on the wire per delivered message: 40-character body, QoS 1, ${settings.wireMessages} messages one at a time, publisher + subscriber sockets`,
  },
  '3': {
    key: '3', name: 'fanout', kind: 'group', members: settings.fanoutMembers, messages: settings.fanoutMessages, window: settings.fanoutWindow, windowMode: settings.windowMode, body: BODY_64,
    title: `Scenario 3, fan-out: 1 publisher -> a room of ${settings.fanoutMembers} subscribing members, QoS 1, 64-byte bodies, ${settings.fanoutMessages} messages, window ${settings.fanoutWindow} (${windowWords()})`,
  },
}

// ---------------------------------------------------------------- one run

interface RunRecord {
  run: number
  target: TargetName
  result: LoadResult
  wallMs: number
  brokerCpuMs: number | null
  brokerCpuPercent: number | null
  /** Broker CPU per delivered message, microseconds. */
  brokerUsPerDelivery: number | null
  generatorCpuPercent: number
  /** mqchat: CPU of the Postgres backends serving it. */
  pgCpuMs: number | null
  pgCpuPercent: number | null
  brokerRssBytes: number | null
}

const children = new Set<ChildProcess>()

function loadProcess(config: LoadConfig): { child: ChildProcess; next: (ms: number) => Promise<LoadMessage> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/load.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', BENCH_LOAD_CONFIG: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`  ${chunk}`))
  const queue: LoadMessage[] = []
  const waiters: Array<(m: LoadMessage) => void> = []
  const deliver = (m: LoadMessage) => {
    const w = waiters.shift()
    if (w) w(m)
    else queue.push(m)
  }
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      deliver(JSON.parse(line) as LoadMessage)
    } catch {
      process.stderr.write(`  load: ${line}\n`)
    }
  })
  child.once('exit', (code, signal) => deliver({ type: 'fatal', error: `load generator exited (${code ?? signal})` }))
  const next = (ms: number) => {
    const queued = queue.shift()
    if (queued) return Promise.resolve(queued)
    return new Promise<LoadMessage>((resolve) => {
      const timer = setTimeout(() => resolve({ type: 'fatal', error: `load generator silent for ${ms} ms` }), ms)
      waiters.push((m) => {
        clearTimeout(timer)
        resolve(m)
      })
    })
  }
  return { child, next }
}

async function runOnce(target: Target, spec: ScenarioSpec, run: number): Promise<RunRecord> {
  const prepared = await target.prepare(spec.kind, spec.members)
  const config: LoadConfig = {
    scenario: spec.name, url: target.url, ...prepared, messages: spec.messages, window: spec.window, windowMode: spec.windowMode,
    body: spec.body, timeoutMs: settings.timeoutMs, idleMs: settings.idleMs,
  }
  const { child, next } = loadProcess(config)
  try {
    const ready = await next(120_000)
    if (ready.type !== 'ready') throw new Error(ready.type === 'fatal' ? ready.error : 'unexpected message from the load generator')
    const pgBefore = target.pgCpu ? await target.pgCpu.sample() : null
    const cpuBefore = target.pid ? cpuMsOf(target.pid) : null
    const t0 = performance.now()
    child.stdin!.write('go\n')
    const done = await next(settings.timeoutMs + 60_000)
    const t1 = performance.now()
    const cpuAfter = target.pid ? cpuMsOf(target.pid) : null
    const pgAfter = target.pgCpu ? await target.pgCpu.sample() : null
    if (done.type !== 'result') throw new Error(done.type === 'fatal' ? done.error : 'unexpected message from the load generator')
    const result = done.result
    const wallMs = t1 - t0
    const brokerCpuMs = cpuBefore !== null && cpuAfter !== null ? cpuAfter - cpuBefore : null
    const pgCpuMs = pgBefore && pgAfter ? PostgresBackendCpu.delta(pgBefore, pgAfter) : null
    return {
      run, target: target.name, result, wallMs,
      brokerCpuMs,
      brokerCpuPercent: brokerCpuMs === null ? null : (100 * brokerCpuMs) / wallMs,
      brokerUsPerDelivery: brokerCpuMs === null || result.distinct === 0 ? null : (1000 * brokerCpuMs) / result.distinct,
      generatorCpuPercent: (100 * result.cpuMs) / Math.max(1, result.elapsedMs),
      pgCpuMs,
      pgCpuPercent: pgCpuMs === null ? null : (100 * pgCpuMs) / wallMs,
      brokerRssBytes: target.pid ? rssOf(target.pid) : null,
    }
  } finally {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      child.stdin!.end()
    })
  }
}

// ---------------------------------------------------------------- summaries and the table

interface Spread {
  median: number
  min: number
  max: number
}
function spread(values: Array<number | null>): Spread | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x))
  if (v.length === 0) return null
  return { median: median(v), min: Math.min(...v), max: Math.max(...v) }
}

interface TargetSummary {
  /** The scenario's figure: msg/s (1), deliveries/s (3), bytes per message (6). */
  figure: Spread | null
  lossMax: number
  duplicatesMax: number
  errors: string[]
  refusals: number
  brokerCpuPercent: Spread | null
  brokerUsPerDelivery: Spread | null
  generatorCpuPercent: Spread | null
  pgCpuPercent: Spread | null
  brokerRssBytes: number | null
  wire?: {
    pubOut: number
    pubIn: number
    subIn: number
    subOut: number
    mqttTotal: Spread | null
    segmentsPerMessage: Spread | null
    /** MQTT bytes + 52 bytes of IPv4 + TCP (with timestamps) headers per segment. */
    withTcpIp: Spread | null
    publishedPayloadBytes: number
    deliveredPayloadBytes: number
  }
}

const TCPIP_HEADER_BYTES = 20 + 32 // IPv4 + TCP with the timestamp option (net.ipv4.tcp_timestamps=1)

function figureOf(spec: ScenarioSpec, r: RunRecord): number | null {
  if (r.result.error && r.result.loss > 0) return null
  if (spec.name === 'throughput') return r.result.messagesPerSec
  if (spec.name === 'fanout') return r.result.deliveriesPerSec
  const w = r.result.wire
  return w ? (w.pubOut + w.pubIn + w.subIn + w.subOut) / spec.messages : null
}

function summarize(spec: ScenarioSpec, runs: RunRecord[]): TargetSummary {
  const summary: TargetSummary = {
    figure: spread(runs.map((r) => figureOf(spec, r))),
    lossMax: Math.max(...runs.map((r) => r.result.loss)),
    duplicatesMax: Math.max(...runs.map((r) => r.result.duplicates)),
    errors: runs.filter((r) => r.result.error).map((r) => `run ${r.run}: ${r.result.error}`),
    refusals: runs.reduce((n, r) => n + r.result.refusals, 0),
    brokerCpuPercent: spread(runs.map((r) => r.brokerCpuPercent)),
    brokerUsPerDelivery: spread(runs.map((r) => r.brokerUsPerDelivery)),
    generatorCpuPercent: spread(runs.map((r) => r.generatorCpuPercent)),
    pgCpuPercent: spread(runs.map((r) => r.pgCpuPercent)),
    brokerRssBytes: runs.at(-1)?.brokerRssBytes ?? null,
  }
  if (spec.name === 'wire') {
    const n = spec.messages
    const last = runs.at(-1)!.result
    const w = last.wire
    summary.wire = {
      pubOut: w ? w.pubOut / n : Number.NaN,
      pubIn: w ? w.pubIn / n : Number.NaN,
      subIn: w ? w.subIn / n : Number.NaN,
      subOut: w ? w.subOut / n : Number.NaN,
      mqttTotal: summary.figure,
      segmentsPerMessage: spread(runs.map((r) => (r.result.wire?.segments == null ? null : r.result.wire.segments / n))),
      withTcpIp: spread(runs.map((r) => {
        const x = r.result.wire
        return x?.segments == null ? null : (x.pubOut + x.pubIn + x.subIn + x.subOut + x.segments * TCPIP_HEADER_BYTES) / n
      })),
      publishedPayloadBytes: last.publishedPayloadBytes,
      deliveredPayloadBytes: last.deliveredPayloadBytes,
    }
  }
  return summary
}

const fmtNum = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const fmtSpread = (s: Spread | null, digits = 0) => (s ? `${fmtNum(s.median, digits)} (${fmtNum(s.min, digits)}-${fmtNum(s.max, digits)})` : 'n/a')
const fmtPct = (s: Spread | null) => (s ? `${fmtNum(s.median)}%` : 'n/a')

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n')
}

function ratios(summaries: Partial<Record<TargetName, TargetSummary>>): { aedes: number | null; mosquitto: number | null } {
  const m = summaries.mqchat?.figure?.median
  const ratio = (other: TargetName) => {
    const o = summaries[other]?.figure?.median
    return m === undefined || o === undefined || o === 0 ? null : m / o
  }
  return { aedes: ratio('aedes'), mosquitto: ratio('mosquitto') }
}

function formatScenario(spec: ScenarioSpec, summaries: Partial<Record<TargetName, TargetSummary>>): string {
  const out: string[] = [spec.title, `${settings.runs} runs: median (min-max)`]
  const names = Object.keys(summaries) as TargetName[]
  if (spec.name === 'wire') {
    const rows = [['target', 'MQTT bytes/msg', 'pub out', 'pub in', 'sub in', 'sub out', 'segments/msg', 'incl. TCP/IP hdrs', 'payload sent/delivered', 'loss']]
    for (const name of names) {
      const s = summaries[name]!
      const w = s.wire!
      rows.push([name, fmtSpread(s.figure, 1), fmtNum(w.pubOut, 1), fmtNum(w.pubIn, 1), fmtNum(w.subIn, 1), fmtNum(w.subOut, 1), fmtSpread(w.segmentsPerMessage, 2), fmtSpread(w.withTcpIp, 1), `${w.publishedPayloadBytes}/${w.deliveredPayloadBytes}`, String(s.lossMax)])
    }
    out.push(table(rows))
    out.push(`(MQTT bytes: everything the two client sockets wrote and read, headers included. TCP/IP: + ${TCPIP_HEADER_BYTES} bytes per segment counted by ss -ti, both directions, pure ACKs included.)`)
  } else {
    const unit = spec.name === 'throughput' ? 'msg/s' : 'deliveries/s'
    const rows = [['target', unit, 'loss', 'dup', 'broker CPU', 'broker us/delivery', 'generator CPU', 'postgres CPU']]
    for (const name of names) {
      const s = summaries[name]!
      rows.push([name, fmtSpread(s.figure), String(s.lossMax), String(s.duplicatesMax), fmtPct(s.brokerCpuPercent), fmtSpread(s.brokerUsPerDelivery, 1), fmtPct(s.generatorCpuPercent), name === 'mqchat' ? fmtPct(s.pgCpuPercent) : '-'])
    }
    out.push(table(rows))
    out.push('(CPU: % of one core during the measured phase; generator = the load process; postgres = the backends serving mqchat.)')
  }
  const r = ratios(summaries)
  if (summaries.mqchat) out.push(`ratio mqchat/aedes: ${r.aedes === null ? 'n/a' : r.aedes.toFixed(2)}   mqchat/mosquitto: ${r.mosquitto === null ? 'n/a' : r.mosquitto.toFixed(2)}`)
  for (const name of names) {
    const s = summaries[name]!
    if (s.lossMax > 0) out.push(`LOSS: ${name} lost up to ${s.lossMax} messages in a run`)
    for (const e of s.errors) out.push(`${name} ${e}`)
    if (s.refusals > 0) out.push(`${name}: ${s.refusals} publishes refused (error reports)`)
  }
  return out.join('\n')
}

// ---------------------------------------------------------------- main

/** The commit mqchat was started from, and the files outside bench/ that differ from it. */
function gitInfo(): { commit: string | null; changedOutsideBench: string[] | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const changed = execFileSync('git', ['status', '--porcelain'], { cwd: repoRoot, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n').filter(Boolean).map((line) => line.slice(3)).filter((path) => !path.startsWith('bench/'))
    return { commit, changedOutsideBench: changed }
  } catch {
    return { commit: null, changedOutsideBench: null }
  }
}

function mosquittoVersion(): string | null {
  try {
    execFileSync('mosquitto', ['-h'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] })
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '')
    return /mosquitto version (\S+)/.exec(out)?.[1] ?? null
  }
  return null
}

const log = (line: string) => process.stderr.write(`${line}\n`)
const targets: Target[] = []
let stopping = false
async function stopAll(): Promise<void> {
  for (const child of children) child.kill('SIGKILL')
  killChildren()
  await Promise.all(targets.map((t) => t.stop().catch((err: unknown) => log(`bench: stopping ${t.name}: ${String(err)}`))))
  targets.length = 0
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    log(`bench: ${signal}, stopping`)
    void stopAll().then(() => process.exit(130))
  })
}

async function main(): Promise<void> {
  const startedAt = new Date()
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const resultsDir = join(repoRoot, 'bench', 'results')
  mkdirSync(resultsDir, { recursive: true })
  const profileDir = join(resultsDir, `profile-${stamp}`)
  const loadBefore = loadavg()
  const git = gitInfo() // before mqchat starts: the code it runs
  const notes: string[] = []
  if (git.changedOutsideBench?.length) notes.push(`working tree differs from ${git.commit?.slice(0, 7)} outside bench/: ${git.changedOutsideBench.join(', ')}`)
  log(`bench: ${settings.runs} runs of scenarios ${settings.scenarios.join(', ')} against ${settings.targets.join(', ')}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`)

  for (const name of settings.targets) {
    if (name === 'mqchat') {
      const flags = settings.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []
      targets.push(await startMqchat({ databaseUrl: settings.databaseUrl, extraEnv: mqchatEnv, nodeFlags: flags, log, tls: settings.tls && settings.scenarios.includes('2') }))
    } else if (name === 'aedes') {
      targets.push(await startAedes())
    } else {
      const m = await useMosquitto(settings.mosquittoUrl)
      if (typeof m === 'string') {
        log(`bench: skipping mosquitto: ${m}`)
        notes.push(`mosquitto skipped: ${m}`)
      } else targets.push(m)
    }
  }
  if (targets.length === 0) throw new Error('no target to run')
  for (const t of targets) {
    log(`bench: ${t.name} at ${t.url}${t.pid ? ` (pid ${t.pid})` : ''}`)
    for (const n of t.notes) notes.push(`${t.name}: ${n}`)
  }

  const report: Record<string, unknown> = {}
  const printed: string[] = []
  let otherBad = false
  for (const key of settings.scenarios) {
    const other = await otherScenario(key, report)
    if (other) {
      printed.push(other.text)
      report[key] = other.report
      otherBad ||= other.bad
      continue
    }
    const spec = SCENARIOS[key]!
    log(`\n${spec.title}`)
    const records: RunRecord[] = []
    for (let run = 1; run <= settings.runs; run++) {
      // Rotate the order each run, so no target always goes first.
      const order = targets.map((_, i) => targets[(i + run - 1) % targets.length]!)
      for (const target of order) {
        const r = await runOnce(target, spec, run)
        records.push(r)
        const figure = figureOf(spec, r)
        log(`  run ${run} ${target.name.padEnd(9)} ${figure === null ? 'n/a' : fmtNum(figure, spec.name === 'wire' ? 1 : 0)} ${spec.name === 'wire' ? 'bytes/msg' : spec.name === 'fanout' ? 'deliveries/s' : 'msg/s'}, loss ${r.result.loss}, broker CPU ${r.brokerCpuPercent === null ? 'n/a' : fmtNum(r.brokerCpuPercent) + '%'}, generator CPU ${fmtNum(r.generatorCpuPercent)}%${r.pgCpuPercent === null ? '' : `, postgres CPU ${fmtNum(r.pgCpuPercent)}%`}${r.result.error ? `, ERROR ${r.result.error}` : ''}`)
      }
    }
    const summaries: Partial<Record<TargetName, TargetSummary>> = {}
    for (const t of targets) summaries[t.name] = summarize(spec, records.filter((r) => r.target === t.name))
    const text = formatScenario(spec, summaries)
    printed.push(text)
    report[key] = { title: spec.title, spec, summaries, ratios: ratios(summaries), runs: records }
  }

  await stopAll()
  let profile: ProfileSummary | undefined
  if (settings.cpuProfile) {
    try {
      // tsx's loader hooks run on a thread of their own, which writes a profile too: keep the busiest (the main thread).
      const summaries = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => summarizeProfile(join(profileDir, f)))
      profile = summaries.sort((a, b) => b.busyMs - a.busyMs)[0]
      if (!profile) log(`bench: no .cpuprofile in ${profileDir}`)
    } catch (err) {
      log(`bench: reading the CPU profile: ${String(err)}`)
    }
  }

  const loadAfter = loadavg()
  const machine = {
    cpus: cpus().length, model: cpus()[0]?.model ?? null, memoryBytes: totalmem(), node: process.version,
    mosquitto: mosquittoVersion(), loadAverageBefore: loadBefore, loadAverageAfter: loadAfter,
  }
  const header = [
    `mqchat bench, ${startedAt.toISOString()}, commit ${git.commit?.slice(0, 7) ?? 'unknown'}, ${machine.cpus} cores (${machine.model}), Node ${machine.node}, load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')} after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
    ...notes.map((n) => `note: ${n}`),
  ]
  process.stdout.write(`\n${header.join('\n')}\n\n${printed.join('\n\n')}\n`)
  if (profile) process.stdout.write(`\n${formatProfile(profile)}\n`)
  if (loadBefore[0]! > machine.cpus * 0.5) process.stdout.write(`\nwarning: the load average was ${loadBefore[0]!.toFixed(2)} before the run on ${machine.cpus} cores: other work was running, figures may be noisy\n`)

  const file = join(resultsDir, `${stamp}.json`)
  writeFileSync(file, JSON.stringify({ startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), machine, git, settings, mqchatEnv, notes, scenarios: report, profile }, null, 2) + '\n')
  process.stdout.write(`\nresults: ${file}\n`)
  const bad = Object.entries(report).filter(([key]) => key in SCENARIOS).map(([, s]) => s).some((s) => Object.values((s as { summaries: Record<string, TargetSummary> }).summaries).some((t) => t.lossMax > 0 || t.errors.length > 0))
  if (bad || otherBad) process.exitCode = 1
}

/** Scenarios 2, 4, 5 and the ceiling (modules of their own), or null for 1, 3 and 6. */
async function otherScenario(key: string, report: Record<string, unknown>): Promise<{ text: string; report: unknown; bad: boolean } | null> {
  if (key === '2') return latencyScenario(targets, settings.latency, log)
  if (key === '4') return connectionsScenario(targets, settings.connections, log)
  if (key === '5') return historyScenario(targets, settings.history, log)
  if (key !== 'pg') return null
  const s1 = (report['1'] as { summaries?: Partial<Record<TargetName, TargetSummary>> } | undefined)?.summaries?.mqchat?.figure?.median ?? null
  return ceilingScenario(targets, settings.ceiling, BODY_64, s1, log)
}

main().catch(async (err: unknown) => {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  await stopAll()
  process.exit(1)
})
