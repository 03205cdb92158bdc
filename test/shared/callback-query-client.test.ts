import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { loadConfig } from '../../shared/config.ts'
import { createLogger } from '../../shared/logger.ts'
import { CallbackQueryClient } from '../../shared/db/callback-query-client.ts'
import { openDatabase } from '../../shared/db/database.ts'
import { onlyWithPostgres, postgresUrl } from '../helpers/services.ts'

// The client changes how pg is called, not what a query answers: rows, type parsers, errors and
// transactions must come back as pg's own promise form gives them.

t.test('a promise query answers as pg does, through the callback form', onlyWithPostgres(), async (t) => {
  const client = new CallbackQueryClient({ connectionString: postgresUrl(t) })
  await client.connect()
  t.teardown(() => client.end())
  const calls: unknown[][] = []
  const spied = Object.getPrototypeOf(CallbackQueryClient.prototype) as { query(...args: unknown[]): unknown }
  const original = spied.query
  spied.query = function (this: unknown, ...args: unknown[]) {
    calls.push(args)
    return original.apply(this, args)
  }
  t.teardown(() => { spied.query = original })

  const result = await client.query('SELECT $1::int AS n, $2::text AS s', [7, 'seven'])
  t.same(result.rows, [{ n: 7, s: 'seven' }], 'rows with their values')
  t.equal(result.rowCount, 1, 'with pg\'s row count')
  t.equal(typeof calls[0]?.[2], 'function', 'pg was called with a callback')

  const err = await client.query('SELECT 1 / $1::int AS n', [0]).catch((e: unknown) => e)
  t.equal((err as { code?: string }).code, '22012', 'a refused query rejects with Postgres\'s SQLSTATE (the writer splits batches on it)')
  t.same((await client.query('SELECT 2 AS n')).rows, [{ n: 2 }], 'the connection still answers after an error')

  const config = await client.query({ text: 'SELECT $1::int AS n', values: [3], rowMode: 'array' })
  t.same(config.rows, [[3]], 'a query config object goes to pg unchanged')
  const viaCallback = await new Promise((resolve, reject) => client.query('SELECT 4 AS n', (e: Error | null, r: pg.QueryResult) => (e ? reject(e) : resolve(r.rows))))
  t.same(viaCallback, [{ n: 4 }], 'a caller\'s own callback is still called')
  const withValues = await new Promise((resolve, reject) => client.query('SELECT $1::int AS n', [5], (e: Error | null, r: pg.QueryResult) => (e ? reject(e) : resolve(r.rows))))
  t.same(withValues, [{ n: 5 }], 'also with values')
})

t.test('openDatabase: Kysely over the client keeps int8 as numbers, errors and transactions', onlyWithPostgres(), async (t) => {
  const url = postgresUrl(t)!
  const schema = `t_cbq_${process.pid}_${randomBytes(3).toString('hex')}`
  const database = await openDatabase(loadConfig({ DATABASE_URL: url, DATABASE_SCHEMA: schema }), createLogger('silent'))
  t.teardown(async () => {
    await sql.raw(`DROP SCHEMA "${schema}" CASCADE`).execute(database.db)
    await database.close()
  })
  const thirdArguments: unknown[] = []
  const original = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    thirdArguments.push(args[2])
    return (original as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof original
  t.teardown(() => { pg.Client.prototype.query = original })
  const { rows } = await sql<{ big: unknown; at: unknown }>`SELECT 9007199254740991::int8 AS big, timestamptz '2026-12-03 10:00:00+00' AS at`.execute(database.db)
  t.equal(rows[0]?.big, 9007199254740991, 'int8 through the pool\'s own type parser')
  t.ok(rows[0]?.at instanceof Date, 'timestamps parsed as pg parses them')
  t.equal(typeof thirdArguments.at(-1), 'function', 'the pool\'s connections call pg with a callback')

  await sql`CREATE TABLE t (n int PRIMARY KEY)`.execute(database.db)
  await database.db.transaction().execute(async (tx) => {
    await sql`INSERT INTO t VALUES (1)`.execute(tx)
  })
  const rolledBack = await database.db.transaction().execute(async (tx) => {
    await sql`INSERT INTO t VALUES (2)`.execute(tx)
    await sql`INSERT INTO t VALUES (1)`.execute(tx)
  }).catch((e: unknown) => e)
  t.equal((rolledBack as { code?: string }).code, '23505', 'a unique violation rejects with its SQLSTATE')
  const { rows: kept } = await sql<{ n: number }>`SELECT n FROM t ORDER BY n`.execute(database.db)
  t.same(kept.map((r) => r.n), [1], 'the committed row stays; the failed transaction left nothing')
})
