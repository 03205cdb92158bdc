import { randomBytes } from 'node:crypto'
import t from 'tap'
import pg from 'pg'
import { Kysely, PostgresDialect } from 'kysely'
import { migrateToLatest } from '../../shared/db/migrate.ts'

// Does each statement of mqchat_commit_batch see changes committed while it waited for the room lock?
const url = process.env['DATABASE_URL']
if (!url) {
  t.pass('Postgres only (DATABASE_URL unset)')
} else {
  const schema = `review_${process.pid}_${randomBytes(3).toString('hex')}`
  const opts = { connectionString: url, options: `-c search_path=${schema}` }

  t.before(async () => {
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query(`CREATE SCHEMA ${schema}`)
    await admin.end()
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool(opts) }) })
    await migrateToLatest(db)
    await db.destroy()
  })
  t.teardown(async () => {
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    await admin.query(`DROP SCHEMA ${schema} CASCADE`)
    await admin.end()
  })

  const client = async () => {
    const c = new pg.Client(opts)
    await c.connect()
    t.teardown(() => c.end())
    return c
  }
  const commit = (c: pg.Client, rooms: string[], senders: string[], ids: string[], system = false) =>
    c.query(`SELECT idx, outcome, seq, created_at FROM mqchat_commit_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[])`,
      [rooms, senders, ids, ids.map((i) => `body ${i}`), ids.map(() => ''), ids.map(() => system)])
  let n = 0
  const setup = async (c: pg.Client) => {
    n++
    const u = `user${String(n).padStart(8, '0')}`
    const r = `room${String(n).padStart(8, '0')}`
    await c.query(`INSERT INTO users (id, username, display_name, password_hash) VALUES ($1, $1, $1, 'x')`, [u])
    await c.query(`INSERT INTO rooms (id, type, created_by) VALUES ($1, 'group', $2)`, [r, u])
    await c.query(`INSERT INTO room_members (room_id, user_id, role) VALUES ($1, $2, 'owner')`, [r, u])
    return { u, r }
  }

  t.test('a member removed while the batch waits for the room lock: room_gone', async (t) => {
    const [a, b] = [await client(), await client()]
    const { u, r } = await setup(a)
    await a.query('BEGIN')
    await a.query('SELECT 1 FROM rooms WHERE id = $1 FOR NO KEY UPDATE', [r])
    await a.query('DELETE FROM room_members WHERE room_id = $1 AND user_id = $2', [r, u])
    const pending = commit(b, [r], [u], ['m1'])
    await new Promise((resolve) => setTimeout(resolve, 300))
    await a.query('COMMIT')
    const { rows } = await pending
    t.equal(rows[0].outcome, 'room_gone')
  })

  t.test('a resend committed by another batch while this one waits: duplicate, not a unique violation', async (t) => {
    const [a, b] = [await client(), await client()]
    const { u, r } = await setup(a)
    await a.query('BEGIN')
    const first = await commit(a, [r], [u], ['same'])
    t.equal(first.rows[0].outcome, 'stored')
    const pending = commit(b, [r, r], [u, u], ['same', 'other'])
    await new Promise((resolve) => setTimeout(resolve, 300))
    await a.query('COMMIT')
    const { rows } = await pending
    t.same(rows.map((x) => [x.outcome, Number(x.seq)]), [['duplicate', 1], ['stored', 2]])
    t.ok(new Date(rows[1].created_at) >= new Date(first.rows[0].created_at), 'times follow numbering')
  })

  t.test('a user disabled (without a room lock) while the batch waits on the room: room_gone?', async (t) => {
    const [a, b, c] = [await client(), await client(), await client()]
    const { u, r } = await setup(a)
    await a.query('BEGIN')
    await a.query('SELECT 1 FROM rooms WHERE id = $1 FOR NO KEY UPDATE', [r])
    const pending = commit(b, [r], [u], ['d1'])
    await new Promise((resolve) => setTimeout(resolve, 300))
    await c.query('UPDATE users SET disabled = true WHERE id = $1', [u])
    await a.query('COMMIT')
    const { rows } = await pending
    t.equal(rows[0].outcome, 'room_gone', 'disable committed before the lock was granted is seen')
  })

  t.test('a system message: only the room must exist', async (t) => {
    const a = await client()
    const { r } = await setup(a)
    const { rows } = await commit(a, [r, 'nosuchroom00'], ['_mqchat_sys_', '_mqchat_sys_'], ['s1', 's2'], true)
    t.same(rows.map((x) => x.outcome), ['stored', 'room_gone'])
  })
}
