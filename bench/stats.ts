/** Percentiles, medians with their spread, and table formatting for the scenarios in their own modules (2, 4, 5, ceiling). */
import { median } from './common.ts'

/** Median and range of one figure over runs. */
export interface Spread {
  median: number
  min: number
  max: number
}

/** Median (min-max) of the finite values, or null when there are none. */
export function spreadOf(values: Array<number | null | undefined>): Spread | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x))
  if (v.length === 0) return null
  return { median: median(v), min: Math.min(...v), max: Math.max(...v) }
}

/** Latency percentiles of one run, in milliseconds. */
export interface Percentiles {
  count: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** Nearest-rank percentiles of `values` (sorted in place), or null when empty. */
export function percentiles(values: number[] | Float64Array): Percentiles | null {
  const n = values.length
  if (n === 0) return null
  const sorted = Float64Array.from(values).sort()
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!
  return { count: n, p50: at(50), p95: at(95), p99: at(99), max: sorted[n - 1]! }
}

/** The median over runs of each percentile. */
export function percentileSpreads(runs: Array<Percentiles | null>): Record<'p50' | 'p95' | 'p99' | 'max', Spread | null> {
  const pick = (k: keyof Percentiles) => spreadOf(runs.map((r) => (r ? r[k] : null)))
  return { p50: pick('p50'), p95: pick('p95'), p99: pick('p99'), max: pick('max') }
}

/** A number with thousands separators and `digits` decimals. */
export const fmtNum = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
/** `median (min-max)`, or n/a. */
export const fmtSpread = (s: Spread | null, digits = 0) => (s ? `${fmtNum(s.median, digits)} (${fmtNum(s.min, digits)}-${fmtNum(s.max, digits)})` : 'n/a')

/** Left-aligned first column, the others right-aligned. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n')
}

/** Integer setting from the environment, exiting with a message when malformed. */
export function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: ${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})\n`)
    process.exit(2)
  }
  return n
}
