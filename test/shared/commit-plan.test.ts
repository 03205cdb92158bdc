import { randomBytes } from 'node:crypto'
import t from 'tap'
import pg from 'pg'
import { Kysely, PostgresDialect } from 'kysely'
import { migrateToLatest } from '../../shared/db/migrate.ts'
import { onlyWithPostgres, postgresUrl } from '../helpers/services.ts'

// The group-commit function reads by key: what one batch costs must not grow with the tables.
// Postgres's per-transaction table counters (pg_stat_xact_user_tables) show what the call read.
// At this size (a small deployment's 1,000 users) migration 0007's plan scanned rooms, users and
// room_members whole on every call.
t.test('mqchat_commit_batch probes by key, whatever the tables hold', onlyWithPostgres(), async (t) => {
  const url = postgresUrl(t)!
  const schema = `plan_${process.pid}_${randomBytes(3).toString('hex')}`
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  t.teardown(async () => {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`)
    await admin.end()
  })
  const opts = { connectionString: url, options: `-c search_path=${schema}` }
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool(opts) }) })
  await migrateToLatest(db)
  await db.destroy()

  const USERS = 1000
  const c = new pg.Client(opts)
  await c.connect()
  t.teardown(() => c.end())
  await c.query(`INSERT INTO users (id, username, display_name, password_hash) SELECT 'u' || g, 'u' || g, 'u', 'x' FROM generate_series(1, ${USERS}) g`)
  await c.query(`INSERT INTO rooms (id, type, created_by) SELECT 'r' || g, 'group', 'u1' FROM generate_series(1, ${USERS / 2}) g`)
  await c.query(`INSERT INTO room_members (room_id, user_id, role) SELECT 'r' || ((g + 1) / 2), 'u' || g, 'member' FROM generate_series(1, ${USERS}) g`)
  const commit = (rooms: string[], senders: string[], ids: string[]) =>
    c.query(`SELECT idx, outcome, seq, body FROM mqchat_commit_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[])`,
      [rooms, senders, ids, ids.map((i) => `body ${i}`), ids.map(() => 'bo od dy'), ids.map(() => false)])
  for (let b = 0; b < 20; b++) {
    const ids = Array.from({ length: 250 }, (_, i) => `old${b}_${i}`)
    await commit(ids.map(() => 'r1'), ids.map(() => 'u1'), ids)
  }
  await c.query('ANALYZE')

  // The counters can also hold this connection's earlier, not yet reported, work: read them before and after.
  const counters = async () => {
    const { rows } = await c.query(`SELECT relname, seq_scan, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE schemaname = current_schema()`)
    return new Map(rows.map((r) => [r.relname as string, { seqScans: Number(r.seq_scan), fetched: Number(r.idx_tup_fetch) }]))
  }
  await c.query('BEGIN')
  const before = await counters()
  const rooms = Array.from({ length: 40 }, (_, i) => `r${2 + i}`)
  const { rows } = await commit([...rooms, 'r1', 'r1'], [...rooms.map((r) => `u${Number(r.slice(1)) * 2}`), 'u1', 'u1'], [...rooms.map((_, i) => `new${i}`), 'old3_7', 'fresh'])
  const after = await counters()
  await c.query('ROLLBACK')

  t.same(rows.map((r) => r.outcome), [...rooms.map(() => 'stored'), 'duplicate', 'stored'], 'stored, the resend found')
  t.same(rows.slice(-2).map((r) => [Number(r.seq), r.body]), [[758, 'body old3_7'], [5001, 'body fresh']], 'the resend comes back with its stored number and body; the new one numbered next')
  const byTable = new Map([...after].map(([table, now]) => {
    const was = before.get(table) ?? { seqScans: 0, fetched: 0 }
    return [table, { seqScans: now.seqScans - was.seqScans, fetched: now.fetched - was.fetched }]
  }))
  for (const table of ['rooms', 'users', 'room_members', 'messages']) {
    t.equal(byTable.get(table)?.seqScans ?? 0, 0, `no sequential scan of ${table}`)
  }
  // Per message: its room twice (lock, number), its sender twice (lock, check), its membership, and the
  // foreign-key checks of the insert; the 5,000 stored messages are read only where a resend matches.
  t.ok((byTable.get('messages')?.fetched ?? 0) <= 2, `messages rows fetched: ${byTable.get('messages')?.fetched}`)
  t.ok((byTable.get('users')?.fetched ?? 0) <= 4 * rows.length, `users rows fetched: ${byTable.get('users')?.fetched} for ${rows.length} messages`)
})
