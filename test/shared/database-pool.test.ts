import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import t, { type Test } from 'tap'
import { loadConfig } from '../../shared/config.ts'
import { createLogger } from '../../shared/logger.ts'
import { openDatabase, type DatabaseHandle } from '../../shared/db/database.ts'
import { onlyWithPostgres, postgresUrl } from '../helpers/services.ts'

// A new Postgres connection costs the message or request that waits for it tens of milliseconds
// (docs/PERFORMANCE.md), so a node keeps DATABASE_POOL_MIN of them open from its start on.

async function serverQuery<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try { return (await client.query(text, values)).rows } finally { await client.end() }
}

async function open(t: Test, env: Record<string, string>): Promise<{ handle: DatabaseHandle; url: string }> {
  const url = postgresUrl(t)!
  const schema = `t_pool_${randomBytes(4).toString('hex')}`
  t.teardown(() => serverQuery(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
  const config = loadConfig({ DATABASE_URL: url, DATABASE_SCHEMA: schema, ...env })
  const handle = await openDatabase(config, createLogger('silent'))
  t.teardown(() => handle.close())
  return { handle, url }
}

/** The backends of `count` connections the pool hands out at once. */
async function backendsAtOnce(handle: DatabaseHandle, count: number): Promise<number[]> {
  const rows = await Promise.all(Array.from({ length: count }, () =>
    sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`.execute(handle.db).then((r) => r.rows[0]!.pid)))
  return [...new Set(rows)].sort()
}

t.test('the kept connections are open from the start and stay open while idle', onlyWithPostgres(), async (t) => {
  const { handle, url } = await open(t, { DATABASE_POOL_MIN: '3', DATABASE_IDLE_TIMEOUT_MS: '100' })
  const [{ opened }] = await serverQuery<{ opened: Date }>(url, 'SELECT clock_timestamp() AS opened') as [{ opened: Date }]
  const first = await backendsAtOnce(handle, 3)
  t.equal(first.length, 3, 'three requests at once got three connections')
  const started = await serverQuery<{ started: Date }>(url, 'SELECT backend_start AS started FROM pg_stat_activity WHERE pid = ANY($1)', [first])
  t.equal(started.length, 3)
  t.ok(started.every((r) => r.started < opened), 'all three were opened before the node had anything to ask')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same(await backendsAtOnce(handle, 3), first, 'after five idle timeouts the same three backends answer')
})

t.test('connections above the minimum close once idle', onlyWithPostgres(), async (t) => {
  const { handle } = await open(t, { DATABASE_POOL_MIN: '1', DATABASE_IDLE_TIMEOUT_MS: '100' })
  const first = await backendsAtOnce(handle, 3)
  t.equal(first.length, 3, 'three requests at once got three connections')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const later = await backendsAtOnce(handle, 3)
  t.equal(later.filter((pid) => first.includes(pid)).length, 1, 'of the three, only the one the minimum keeps is still there')
})

t.test('a pool smaller than the default minimum opens: the minimum is capped by DATABASE_POOL_MAX', onlyWithPostgres(), async (t) => {
  const { handle } = await open(t, { DATABASE_POOL_MAX: '2', WRITE_CONCURRENCY: '1', DATABASE_TIMEOUT_MS: '2000' })
  t.equal((await backendsAtOnce(handle, 2)).length, 2, 'two connections, both answering')
})
