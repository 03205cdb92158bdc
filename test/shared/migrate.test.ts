import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { loadConfig } from '../../shared/config.ts'
import { createLogger } from '../../shared/logger.ts'
import { openDatabase } from '../../shared/db/database.ts'
import { MIGRATIONS, migrateToLatest } from '../../shared/db/migrate.ts'
import { onlyWithPostgres, postgresUrl } from '../helpers/services.ts'

const url = postgresUrl(t)

async function dropSchemas(schemas: string[]) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

t.test('migrations in one schema do not depend on another schema of the same database', onlyWithPostgres(), async (t) => {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`
  const schemas = [`t_mig_a_${tag}`, `t_mig_b_${tag}`]
  t.teardown(() => dropSchemas(schemas))
  const handles = []
  try {
    for (const schema of schemas) {
      const database = await openDatabase(loadConfig({ DATABASE_URL: url, DATABASE_SCHEMA: schema }), createLogger('silent'))
      handles.push(database)
      const result = await migrateToLatest(database.db)
      t.same(result.results?.map((r) => [r.migrationName, r.status]), Object.keys(MIGRATIONS).map((name) => [name, 'Success']), `${schema} migrated`)
      // Not Kysely's introspection: it reads every schema, and other test files drop theirs meanwhile.
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = ${schema} AND tablename = 'kysely_migration'`.execute(database.db)
      t.equal(rows[0]?.n, 1, `${schema} has its own kysely_migration table`)
    }
  } finally {
    for (const handle of handles) await handle.close()
  }
})

t.test('migrations succeed while other schemas of the database come and go', onlyWithPostgres(), async (t) => {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`
  const schemas = Array.from({ length: 4 }, (_, i) => `t_mig_churn_${i}_${tag}`)
  t.teardown(() => dropSchemas(schemas))
  const churner = new pg.Client({ connectionString: url })
  await churner.connect()
  let churning = true
  let churned = 0
  const churn = (async () => {
    while (churning) {
      const other = `t_mig_gone_${tag}_${churned++}`
      await churner.query(`CREATE SCHEMA "${other}"`)
      await churner.query(`CREATE TABLE "${other}".x (a serial, b int)`)
      await churner.query(`DROP SCHEMA "${other}" CASCADE`)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  })()
  try {
    for (const schema of schemas) {
      const database = await openDatabase(loadConfig({ DATABASE_URL: url, DATABASE_SCHEMA: schema }), createLogger('silent'))
      try {
        const result = await migrateToLatest(database.db)
        t.equal(result.results?.length, Object.keys(MIGRATIONS).length, `${schema} migrated while ${churned} other schemas came and went`)
      } finally {
        await database.close()
      }
    }
  } finally {
    churning = false
    await churn
    await churner.end()
  }
})
