import { sql, type Kysely } from 'kysely'
import type { Redis } from 'ioredis'
import { MIGRATIONS } from './db/migrate.ts'

/** One dependency's state: `ok`, or why not. */
export interface CheckResult {
  ok: boolean
  reason?: string
}

/** What `GET /readyz` answers: ready only when every check is. */
export interface ReadinessReport {
  ready: boolean
  checks: Record<string, CheckResult>
}

/** What readiness looks at. */
export interface ReadinessDeps {
  db: Kysely<any>
  /** Checked only when the node is clustered. */
  redis?: Redis | undefined
  /** Longest wait for each dependency. */
  timeoutMs: number
}

/** Rejects with `timed out after <ms> ms` unless `work` settles first. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms) })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/** Runs `check`, turning a rejection or a timeout into a reason. */
async function probe(check: () => Promise<string | undefined>, ms: number): Promise<CheckResult> {
  try {
    const problem = await within(check(), ms)
    return problem ? { ok: false, reason: problem } : { ok: true }
  } catch (err) {
    return { ok: false, reason: (err as Error).message }
  }
}

/**
 * Whether this node can do its work: Postgres answers `SELECT 1`, every
 * migration this build knows (`MIGRATIONS`) is recorded as applied, and,
 * when clustered, Redis answers PING. Each check has `timeoutMs`, so a
 * black-holed dependency makes the node unready instead of hanging the probe.
 * While the node shuts down it is reported unready at once, so a load
 * balancer stops sending it traffic.
 */
export class Readiness {
  readonly #deps: ReadinessDeps
  #draining = false

  constructor(deps: ReadinessDeps) {
    this.#deps = deps
  }

  /** From now on, report not ready (called at the start of shutdown). */
  drain(): void {
    this.#draining = true
  }

  /** Runs the checks (in parallel). */
  async check(): Promise<ReadinessReport> {
    const { db, redis, timeoutMs } = this.#deps
    if (this.#draining) return { ready: false, checks: { node: { ok: false, reason: 'shutting down' } } }
    const checks: Record<string, Promise<CheckResult>> = {
      postgres: probe(async () => { await sql`SELECT 1`.execute(db); return undefined }, timeoutMs),
      migrations: probe(() => missingMigrations(db), timeoutMs),
    }
    if (redis) checks['redis'] = probe(async () => { await redis.ping(); return undefined }, timeoutMs)
    const results = Object.fromEntries(await Promise.all(Object.entries(checks).map(async ([name, result]) => [name, await result] as const)))
    return { ready: Object.values(results).every((r) => r.ok), checks: results }
  }
}

/** Undefined when every known migration is applied, else which are not. */
async function missingMigrations(db: Kysely<any>): Promise<string | undefined> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db)
  const applied = new Set(rows.map((r) => r.name))
  const missing = Object.keys(MIGRATIONS).filter((name) => !applied.has(name))
  return missing.length > 0 ? `not applied: ${missing.join(', ')}` : undefined
}
