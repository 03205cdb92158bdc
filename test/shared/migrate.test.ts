import { randomBytes } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { loadConfig } from '../../shared/config.ts'
import { createLogger } from '../../shared/logger.ts'
import { openDatabase } from '../../shared/db/database.ts'
import { MIGRATIONS, migrateToLatest } from '../../shared/db/migrate.ts'
import { searchGrams } from '../../shared/search/grams.ts'
import { SearchStore } from '../../shared/stores/search-store.ts'
import { MessageStore } from '../../shared/stores/message-store.ts'
import { prepareMessage } from '../../shared/stores/prepared-message.ts'
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

t.test('messages stored before search existed (0001) are found by search after the upgrade', onlyWithPostgres(), async (t) => {
  const schema = `t_mig_grams_${process.pid}_${randomBytes(4).toString('hex')}`
  t.teardown(() => dropSchemas([schema]))
  const database = await openDatabase(loadConfig({ DATABASE_URL: url, DATABASE_SCHEMA: schema }), createLogger('silent'))
  t.teardown(() => database.close())
  const db = database.db as Kysely<any>
  const all = { ...MIGRATIONS }
  try {
    for (const name of Object.keys(MIGRATIONS)) if (name !== '0001_initial') delete MIGRATIONS[name]
    await migrateToLatest(db)
  } finally {
    Object.assign(MIGRATIONS, all)
  }
  // What a node of that schema stored: two users, a room, two messages (one body has no word long enough for a gram).
  await sql`INSERT INTO users (id, username, display_name, password_hash) VALUES ('u1', 'alice', 'alice', 'x'), ('u2', 'bob', 'bob', 'x')`.execute(db)
  await sql`INSERT INTO rooms (id, type, direct_key, created_by, last_seq, last_message_at) VALUES ('r1', 'direct', 'u1:u2', 'u1', 2, now())`.execute(db)
  await sql`INSERT INTO room_members (room_id, user_id, role) VALUES ('r1', 'u1', 'owner'), ('r1', 'u2', 'member')`.execute(db)
  await sql`INSERT INTO messages (room_id, seq, sender_id, client_msg_id, body) VALUES ('r1', 1, 'u1', 'c1', 'quarterly budget meeting'), ('r1', 2, 'u1', 'c2', '!!')`.execute(db)
  await migrateToLatest(db)
  await new MessageStore(db).commitBatch([prepareMessage({ roomId: 'r1', senderId: 'u1', clientMsgId: 'c3', body: 'budget review tomorrow' })])
  const hits = await new SearchStore(db).inRoom('r1', { text: 'budget', limit: 20 })
  t.same(hits.messages.map((m) => m.id).sort(), [1, 3], 'the old message is found beside the new one')
  const { rows } = await sql<{ seq: number; grams: string[] }>`SELECT seq, search_grams AS grams FROM messages ORDER BY seq`.execute(db)
  t.same(rows[0]!.grams, searchGrams('quarterly budget meeting'), 'its grams are the app\'s own')
  t.same(rows[1]!.grams, [], 'a body without grams keeps its empty array')
})
