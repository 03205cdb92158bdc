import { mkdirSync } from 'node:fs'
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import type { Config } from '../config.ts'
import type { Logger } from '../logger.ts'
import type { Database } from './schema.ts'
import { CallbackQueryClient } from './callback-query-client.ts'

const INT8_OID = 20
/** How long past `statement_timeout` a query may go unanswered before its connection counts as gone. */
const ANSWER_MARGIN_MS = 2000

/** An open database: the query builder, which engine backs it, and how to close it. */
export interface DatabaseHandle {
  db: Kysely<Database>
  kind: 'postgres' | 'pglite'
  /** Where the data lives, for the start-up log (no credentials). */
  location: string
  close(): Promise<void>
}

/**
 * Opens Postgres at `DATABASE_URL`, or embedded PGlite in `DATA_DIR` when it
 * is unset. With `DATABASE_SCHEMA` every connection works inside that schema,
 * which is created if missing. int8 columns come back as JS numbers. A
 * Postgres connection that dies, idle or in use (server restart, failover,
 * network cut), is logged and replaced, never fatal.
 */
export async function openDatabase(config: Config, log: Logger): Promise<DatabaseHandle> {
  if (config.DATABASE_URL) return openPostgres(config.DATABASE_URL, config, log)
  return openPglite(config)
}

async function openPostgres(url: string, config: Config, log: Logger): Promise<DatabaseHandle> {
  const schema = config.DATABASE_SCHEMA
  if (schema) {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
    } finally {
      await client.end()
    }
  }
  const options: pg.PoolConfig & ConstructorParameters<typeof CallbackQueryClient>[0] = {
    Client: CallbackQueryClient,
    connectionString: url,
    max: config.DATABASE_POOL_MAX,
    min: Math.min(config.DATABASE_POOL_MIN, config.DATABASE_POOL_MAX),
    idleTimeoutMillis: config.DATABASE_IDLE_TIMEOUT_MS,
    connectionTimeoutMillis: config.DATABASE_TIMEOUT_MS,
    answerDeadlineMs: config.DATABASE_TIMEOUT_MS + ANSWER_MARGIN_MS,
    // Kept connections may sit idle for hours: probing them finds one whose server side is gone (a
    // restart, a failover) before a request does.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    options: `-c statement_timeout=${config.DATABASE_TIMEOUT_MS}${schema ? ` -c search_path=${schema}` : ''}`,
    types: { getTypeParser: (oid: number, format?: any) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) } as any,
  }
  // The pool hands its options to each client it makes, `answerDeadlineMs` included.
  const pool = new pg.Pool(options)
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle Postgres connection lost; it will be replaced'))
  // The pool listens for errors only on idle clients: a connection that dies while checked out emits
  // 'error' on its client with no listener, which would crash the process. Its queries fail anyway (the
  // caller sees the error) and the pool discards it on release, so the event only needs a listener.
  pool.on('connect', (client) => client.on('error', (err) => log.debug({ err: err.message }, 'Postgres connection lost while in use')))
  await openConnections(pool, Math.min(config.DATABASE_POOL_MIN, config.DATABASE_POOL_MAX))
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  const host = new URL(url)
  return { db, kind: 'postgres', location: `${host.host}${host.pathname}${schema ? ` schema ${schema}` : ''}`, close: () => db.destroy() }
}

/**
 * Opens the pool's kept connections now, so the first messages and requests
 * after start do not each wait for one (the pool keeps them from then on).
 */
async function openConnections(pool: pg.Pool, count: number): Promise<void> {
  const opened = await Promise.allSettled(Array.from({ length: count }, () => pool.connect()))
  for (const result of opened) if (result.status === 'fulfilled') result.value.release()
  const failed = opened.find((result) => result.status === 'rejected')
  if (failed) {
    await pool.end()
    throw failed.reason
  }
}

async function openPglite(config: Config): Promise<DatabaseHandle> {
  const inMemory = config.DATA_DIR === 'memory://'
  const dataDir = inMemory ? undefined : `${config.DATA_DIR}/pglite`
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  // Loaded only here: a node on a Postgres server never needs it, and its module is ~4 MB of heap for good.
  const { PGlite } = await import('@electric-sql/pglite')
  const pglite = await PGlite.create({ dataDir, parsers: { [INT8_OID]: Number } })
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) })
  if (config.DATABASE_SCHEMA) {
    await sql.raw(`CREATE SCHEMA IF NOT EXISTS "${config.DATABASE_SCHEMA}"`).execute(db)
    await sql.raw(`SET search_path TO "${config.DATABASE_SCHEMA}"`).execute(db)
  }
  return { db, kind: 'pglite', location: dataDir ?? 'memory', close: () => db.destroy() }
}
