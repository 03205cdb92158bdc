/**
 * Scenario 5, history (mqchat only: the anchors keep no history): with
 * `messages` stored messages over `rooms` rooms (bulk-loaded, see
 * history-data.ts), the latency over REST of a page of 50 with `before=`
 * (random room, random position), of a room search, and of a search across
 * all the caller's rooms (a common word and a rare one), sequentially and
 * with a few requests at once.
 */
import { Agent, request as httpRequest } from 'node:http'
import { bodyPool, loadHistory, prng, type LoadedHistory } from './history-data.ts'
import { fmtNum, fmtSpread, formatTable, percentiles, percentileSpreads, spreadOf, type Percentiles } from './stats.ts'
import type { ChatUser, Target } from './targets.ts'

/** Scenario 5's settings (BENCH_HISTORY_*). */
export interface HistorySettings {
  runs: number
  messages: number
  rooms: number
  requests: number
  /**
   * Requests of each kind, one at a time, before the measured runs and not in their figures (reported
   * apart): a freshly started mqchat answers its first thousand pages about twice as slowly as later ones.
   */
  warmup: number
  /** A series stops issuing requests after this long even if `requests` were not all sent (slow searches). */
  seriesS: number
  concurrency: number
}

type Kind = 'page' | 'room search' | 'search common' | 'search rare'

/** One measured series. */
export interface HistoryRecord {
  run: number
  kind: Kind
  concurrency: number
  latency: Percentiles | null
  /** Requests answered (fewer than asked when the series hit its time limit). */
  answered: number
  requestsPerSec: number
  /** Mean number of messages per answer. */
  meanResults: number
  /** The five slowest answers, as [request number from 1, ms]: shows whether a tail is warm-up or spread. */
  slowest: Array<[number, number]>
  errors: string[]
}

/**
 * A GET over a kept-alive connection with node:http. Not `fetch`: its own
 * cost in this process (Node 20's bundled undici, web streams) was most of
 * what a page measured: with the server unchanged, a page's p50 went from
 * 5.1 ms with `fetch` to 2.3 ms with this (docs/PERFORMANCE.md).
 */
function get(url: string, token: string, agent: Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent, headers: { authorization: `Bearer ${token}` }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')))
    req.on('error', reject)
    req.end()
  })
}

async function series(kind: Kind, request: (rnd: () => number) => string, token: string, apiUrl: string, s: HistorySettings, concurrency: number, run: number, requests = s.requests): Promise<HistoryRecord> {
  const rnd = prng(run * 1000 + concurrency * 10 + kind.length)
  const times: number[] = []
  const numbered: Array<[number, number]> = []
  const errors: string[] = []
  let results = 0
  let issued = 0
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  const started = performance.now()
  const stopAt = started + s.seriesS * 1000
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (issued < requests && performance.now() < stopAt) {
      const n = ++issued
      const path = request(rnd)
      const t0 = performance.now()
      try {
        const res = await get(apiUrl + path, token, agent)
        const ms = performance.now() - t0
        const text = res.text
        if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text.slice(0, 200)}`)
        times.push(ms)
        numbered.push([n, Number(ms.toFixed(2))])
        results += (JSON.parse(text) as { messages: unknown[] }).messages.length
      } catch (err) {
        if (errors.length < 3) errors.push(err instanceof Error ? err.message : String(err))
      }
    }
  }))
  const wall = performance.now() - started
  agent.destroy()
  return { run, kind, concurrency, latency: percentiles(times), answered: times.length, requestsPerSec: times.length / (wall / 1000), meanResults: times.length ? results / times.length : 0, slowest: numbered.sort((a, b) => b[1] - a[1]).slice(0, 5), errors }
}

/** A latency in ms, or n/a for a series with no answers. */
function msText(v: number | undefined, digits: number): string {
  return v === undefined ? 'n/a' : fmtNum(v, digits)
}

/** One series as a log line: percentiles, answers, rate, slowest requests, errors. */
function seriesLine(label: string, r: HistoryRecord): string {
  const slowest = r.slowest.map(([n, ms]) => `#${n} ${fmtNum(ms, 1)}`).join(', ')
  return `  ${label} ${r.kind.padEnd(13)} x${r.concurrency}: p50 ${msText(r.latency?.p50, 2)} p99 ${msText(r.latency?.p99, 2)} ms, ${r.answered} answers, ` +
    `${fmtNum(r.requestsPerSec)} req/s, ${fmtNum(r.meanResults, 1)} results, slowest ${slowest}${r.errors.length ? `, ERRORS ${r.errors.join('; ')}` : ''}`
}

/** Runs scenario 5 against mqchat, or explains why it did not. */
export async function historyScenario(targets: Target[], s: HistorySettings, log: (l: string) => void): Promise<{ title: string; text: string; report: unknown; bad: boolean }> {
  const title = `Scenario 5, history: ${fmtNum(s.messages)} stored messages over ${fmtNum(s.rooms)} rooms; REST latency of a page of 50 with before= and of searches, ${s.requests} requests per series (at most ${s.seriesS} s), 1 and ${s.concurrency} at once`
  log(`\n${title}`)
  const target = targets.find((t) => t.mqchat)
  if (!target?.mqchat) return { title, text: `${title}\nskipped: mqchat is not among BENCH_TARGETS`, report: { title, skipped: true }, bad: false }
  const m = target.mqchat
  const [reader, partner] = (await m.newUsers(2)) as [ChatUser, ChatUser]
  const pool = bodyPool(5000)
  const loaded: LoadedHistory = await loadHistory(m.databaseUrl, m.schema, reader.id, partner.id, s.rooms, s.messages, pool, log)
  log(`  history: ${fmtNum(loaded.perRoom * s.rooms)} messages loaded in ${(loaded.loadMs / 1000).toFixed(1)} s (inserts ${(loaded.insertMs / 1000).toFixed(1)} s, indexes ${(loaded.indexMs / 1000).toFixed(1)} s, vacuum and analyze ${(loaded.analyzeMs / 1000).toFixed(1)} s)`)
  const room = (rnd: () => number) => loaded.roomIds[Math.floor(rnd() * loaded.roomIds.length)]!
  const word = (words: string[], rnd: () => number) => encodeURIComponent(words[Math.floor(rnd() * words.length)]!)
  // Positions 51..perRoom: every page is full.
  const before = (rnd: () => number) => 51 + Math.floor(rnd() * Math.max(1, loaded.perRoom - 50))
  const kinds: Array<[Kind, (rnd: () => number) => string]> = [
    ['page', (rnd) => `/v1/rooms/${room(rnd)}/messages?limit=50&before=${before(rnd)}`],
    ['room search', (rnd) => `/v1/rooms/${room(rnd)}/messages/search?q=${word(pool.common, rnd)}`],
    ['search common', (rnd) => `/v1/messages/search?q=${word(pool.common, rnd)}`],
    ['search rare', (rnd) => `/v1/messages/search?q=${word(pool.rare, rnd)}`],
  ]
  const warmups: HistoryRecord[] = []
  for (const [kind, request] of s.warmup > 0 ? kinds : []) {
    const r = await series(kind, request, reader.token, m.apiUrl, s, 1, 0, s.warmup)
    warmups.push(r)
    log(seriesLine('warm-up (not in the figures)', r))
  }
  const records: HistoryRecord[] = []
  for (let run = 1; run <= s.runs; run++) {
    for (const [kind, request] of kinds) {
      for (const concurrency of [...new Set([1, s.concurrency])]) {
        const r = await series(kind, request, reader.token, m.apiUrl, s, concurrency, run)
        records.push(r)
        log(seriesLine(`run ${run}`, r))
      }
    }
  }
  const rows = [['request', 'at once', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'answers', 'req/s', 'results/answer', 'errors']]
  const summaries: Record<string, unknown> = {}
  let bad = false
  for (const [kind] of kinds) {
    for (const concurrency of [...new Set([1, s.concurrency])]) {
      const rs = records.filter((r) => r.kind === kind && r.concurrency === concurrency)
      const p = percentileSpreads(rs.map((r) => r.latency))
      const errors = rs.flatMap((r) => r.errors)
      if (errors.length) bad = true
      summaries[`${kind} x${concurrency}`] = { ...p, requestsPerSec: spreadOf(rs.map((r) => r.requestsPerSec)), meanResults: spreadOf(rs.map((r) => r.meanResults)), errors }
      rows.push([kind, String(concurrency), fmtSpread(p.p50, 2), fmtSpread(p.p95, 2), fmtSpread(p.p99, 2), fmtSpread(p.max, 1), String(Math.min(...rs.map((r) => r.answered))), fmtSpread(spreadOf(rs.map((r) => r.requestsPerSec))), fmtNum(spreadOf(rs.map((r) => r.meanResults))?.median ?? 0, 1), String(errors.length)])
    }
  }
  for (const r of warmups) {
    if (r.errors.length) bad = true
    rows.push([`${r.kind}, warm-up`, '1', msText(r.latency?.p50, 2), msText(r.latency?.p95, 2), msText(r.latency?.p99, 2), msText(r.latency?.max, 1), String(r.answered), fmtNum(r.requestsPerSec), fmtNum(r.meanResults, 1), String(r.errors.length)])
  }
  const out = [title, `${s.runs} runs: median (min-max) of each run's percentile; the warm-up rows (${s.warmup} requests of each kind, before the runs) are not in them`, formatTable(rows),
    `(Loaded with SQL in ${(loaded.loadMs / 1000).toFixed(1)} s (inserts ${(loaded.insertMs / 1000).toFixed(1)}, index builds ${(loaded.indexMs / 1000).toFixed(1)}, vacuum and analyze ${(loaded.analyzeMs / 1000).toFixed(1)}), not through mqchat: ${loaded.perRoom} messages per room, ${pool.bodies.length} distinct bodies of 3-12 words from ${pool.common.length} common words (English and Korean), one in ten with a rare 7-letter word. Page: random room, before= uniform over full pages. Searches (default limit 20): room search for a common word in a random room; search across the caller's ${s.rooms} rooms for a common word (~4% of messages) or for a rare word that occurs. Latency measured in the orchestrator: a node:http GET to the end of the body, keep-alive.)`]
  for (const [k, sum] of Object.entries(summaries) as Array<[string, { errors: string[] }]>) for (const e of sum.errors) out.push(`${k}: ERROR ${e}`)
  return { title, text: out.join('\n'), report: { title, settings: s, loadMs: loaded.loadMs, perRoom: loaded.perRoom, summaries, warmups, runs: records }, bad }
}
