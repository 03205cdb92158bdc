/**
 * The Postgres ceiling: how many rows a second Postgres itself takes in
 * batched inserts into a table of the `messages` shape (a copy of mqchat's,
 * with all its indexes and their settings, the GIN on search_grams and its
 * pending-list cap included; like it, without foreign keys), from `connections` clients each inserting batches of
 * `batch` rows as one prepared `INSERT ... SELECT FROM unnest(...)`, each
 * batch its own (durable) transaction. mqchat's scenario 1 rate is shown as
 * a ratio of it.
 */
import pg from 'pg'
import { searchGrams } from '../shared/search/grams.ts'
import { fmtNum, fmtSpread, spreadOf } from './stats.ts'
import type { Target } from './targets.ts'

/** The ceiling's settings (BENCH_CEILING_*). */
export interface CeilingSettings {
  runs: number
  rows: number
  batch: number
  connections: number
}

async function insertAll(databaseUrl: string, table: string, room: string, rows: number, batch: number, body: string, grams: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const text = `INSERT INTO ${table} (room_id, seq, sender_id, client_msg_id, body, search_grams, created_at)
      SELECT $1, s, 'ceilingsendr', 'c' || s, b, string_to_array(g, ' '), clock_timestamp()
      FROM unnest($2::bigint[], $3::text[], $4::text[]) AS u(s, b, g)`
    for (let from = 1; from <= rows; from += batch) {
      const n = Math.min(batch, rows - from + 1)
      const seqs = Array.from({ length: n }, (_, i) => from + i)
      await client.query({ name: 'ceiling', text, values: [room, seqs, seqs.map(() => body), seqs.map(() => grams)] })
    }
  } finally {
    await client.end().catch(() => {})
  }
}

/** One run: a fresh copy of the table, `connections` clients, rows per second. */
async function runOnce(databaseUrl: string, schema: string, s: CeilingSettings, body: string, run: number): Promise<number> {
  const table = `"${schema}".ceiling_${run}`
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE TABLE ${table} (LIKE "${schema}".messages INCLUDING ALL)`)
    const grams = searchGrams(body).join(' ')
    const share = Math.ceil(s.rows / s.connections)
    const started = performance.now()
    await Promise.all(Array.from({ length: s.connections }, (_, c) => insertAll(databaseUrl, table, `ceilingroom${c}`, share, s.batch, body, grams)))
    return (share * s.connections) / ((performance.now() - started) / 1000)
  } finally {
    await admin.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {})
    await admin.end().catch(() => {})
  }
}

/** Measures the ceiling in mqchat's schema (needs the mqchat target); `scenario1` is mqchat's msg/s median when scenario 1 ran. */
export async function ceilingScenario(targets: Target[], s: CeilingSettings, body: string, scenario1: number | null, log: (l: string) => void): Promise<{ title: string; text: string; report: unknown; bad: boolean }> {
  const title = `Postgres ceiling: ${fmtNum(s.rows)} rows into a copy of messages (all its indexes, GIN included; no foreign keys), batches of ${s.batch} via INSERT ... SELECT FROM unnest, ${s.connections} connections, one transaction per batch`
  log(`\n${title}`)
  const m = targets.find((t) => t.mqchat)?.mqchat
  if (!m) return { title, text: `${title}\nskipped: needs the mqchat target (its schema)`, report: { title, skipped: true }, bad: false }
  const rates: number[] = []
  for (let run = 1; run <= s.runs; run++) {
    rates.push(await runOnce(m.databaseUrl, m.schema, s, body, run))
    log(`  run ${run} ${fmtNum(rates.at(-1)!)} rows/s`)
  }
  const ceiling = spreadOf(rates)
  const ratio = scenario1 !== null && ceiling ? scenario1 / ceiling.median : null
  const text = [title, `${s.runs} runs: ${fmtSpread(ceiling)} rows/s (median (min-max))`,
    ratio === null ? 'mqchat scenario 1 / ceiling: n/a (scenario 1 did not run for mqchat in this bench)' : `mqchat scenario 1, persisted msg/s / ceiling: ${fmtNum(scenario1!)} / ${fmtNum(ceiling!.median)} = ${ratio.toFixed(2)} (target: at least 0.5)`].join('\n')
  return { title, text, report: { title, settings: s, rowsPerSec: ceiling, runs: rates, mqchatScenario1: scenario1, ratio }, bad: false }
}
