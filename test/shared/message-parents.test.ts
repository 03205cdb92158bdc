import t from 'tap'
import pg from 'pg'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../../shared/db/schema.ts'
import { startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres } from '../helpers/services.ts'

// `messages` has no foreign keys (migration 0009): the commit function checks room and sender once
// per batch, and triggers keep what the keys' delete rules did. Runs on PGlite and on Postgres.
t.test('what the foreign keys of messages did still holds', async (t) => {
  const app = await startTestNode(t)
  const { db } = app.node.database
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const newRoom = async () => (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds: [bob.id] } })).body.room.id as string
  const stored = async (roomId: string) => Number((await db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).where('room_id', '=', roomId).executeTakeFirstOrThrow()).n)

  t.test('messages has no foreign keys', async (t) => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'messages'::regclass AND contype = 'f'`.execute(db)
    t.equal(rows[0]?.n, 0, 'the commit function checks rooms and senders instead')
  })

  t.test('deleting a room deletes its messages', async (t) => {
    const roomId = await newRoom()
    for (const id of ['a', 'b', 'c']) t.equal((await app.node.services.writer.write({ roomId, senderId: alice.id, clientMsgId: id, body: id })).kind, 'stored')
    t.equal(await stored(roomId), 3)
    t.equal((await app.http('DELETE', `/v1/rooms/${roomId}`, { token: alice.token })).status, 204, 'the owner deletes the room')
    t.equal(await stored(roomId), 0, 'no message is left without its room')
  })

  t.test('a user who has sent messages cannot be deleted; one who has not can', async (t) => {
    const roomId = await newRoom()
    // bob, not alice: rooms.created_by (a key of its own) would also refuse deleting the rooms' creator.
    t.equal((await app.node.services.writer.write({ roomId, senderId: bob.id, clientMsgId: 'kept', body: 'kept' })).kind, 'stored')
    const err = await db.deleteFrom('users').where('id', '=', bob.id).execute().then(() => undefined, (e: { code?: string }) => e)
    t.equal(err?.code, '23503', 'refused as a foreign key violation')
    t.match(String(err), /has sent messages/, 'by the trigger that keeps senders')
    t.equal(await stored(roomId), 1, 'the message is kept')
    const carol = await app.user('carol')
    await db.deleteFrom('users').where('id', '=', carol.id).execute()
    t.equal((await db.selectFrom('users').select('id').where('id', '=', carol.id).execute()).length, 0, 'carol is gone')
  })

  t.test('a system message needs its sender to exist', async (t) => {
    const roomId = await newRoom()
    const outcome = await app.node.services.writer.write({ roomId, senderId: 'no_such_user', clientMsgId: 'sys1', body: 'hello', system: true })
    t.equal(outcome.kind, 'room_gone', 'refused: nobody to send it')
    t.equal(await stored(roomId), 0)
  })

  t.test('a room deleted while a batch holds it loses that batch too', onlyWithPostgres(), async (t) => {
    const roomId = await newRoom()
    const opts = { connectionString: process.env['DATABASE_URL'], options: `-c search_path=${app.schema}` }
    const [batch, remover] = [new pg.Client(opts), new pg.Client(opts)]
    await Promise.all([batch.connect(), remover.connect()])
    t.teardown(() => Promise.all([batch.end(), remover.end()]))
    await batch.query('BEGIN')
    const { rows } = await batch.query(`SELECT outcome FROM mqchat_commit_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[])`,
      [[roomId], [alice.id], ['late'], ['late'], ['la at te'], [false]])
    t.same(rows.map((r) => r.outcome), ['stored'])
    const deleted = remover.query('DELETE FROM rooms WHERE id = $1', [roomId])
    t.ok(await blockedBy(db, remover, batch), 'the delete waits for the batch')
    await batch.query('COMMIT')
    t.equal((await deleted).rowCount, 1)
    t.equal(await stored(roomId), 0, 'the batch committed first, and its message went with the room')
  })

  // The race migration 0009's locked-rooms check closes: the batch locks its rooms before the room
  // exists, the room appears, and its delete commits only after the batch has read it. The batch
  // is held between its two lock statements by a lock on its sender's row.
  t.test('a room created after a batch took its locks, and deleted before it commits, keeps no message', onlyWithPostgres(), async (t) => {
    const roomId = `race_${Date.now().toString(36)}`
    const opts = { connectionString: process.env['DATABASE_URL'], options: `-c search_path=${app.schema}` }
    const [batch, holder, remover] = [new pg.Client(opts), new pg.Client(opts), new pg.Client(opts)]
    await Promise.all([batch.connect(), holder.connect(), remover.connect()])
    t.teardown(() => Promise.all([batch.end(), holder.end(), remover.end()]))
    await holder.query('BEGIN')
    await holder.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [alice.id])
    await batch.query('BEGIN')
    const committing = batch.query(`SELECT outcome FROM mqchat_commit_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[])`,
      [[roomId], [alice.id], ['raced'], ['raced'], ['ra ac ce ed'], [false]])
    t.ok(await blockedBy(db, batch, holder), 'the batch has locked its (not yet existing) room and waits at its sender')
    await db.insertInto('rooms').values({ id: roomId, type: 'group', name: 'raced', created_by: alice.id }).execute()
    await db.insertInto('room_members').values({ room_id: roomId, user_id: alice.id, role: 'owner' }).execute()
    await remover.query('BEGIN')
    t.equal((await remover.query('DELETE FROM rooms WHERE id = $1', [roomId])).rowCount, 1, 'the room is deleted, not yet committed, with no message to take along')
    await holder.query('COMMIT')
    // Unchecked, the batch would now insert into the room it sees and wait for the delete at its room bump.
    t.equal(await finishedOrBlocked(db, batch, remover, committing), 'finished', 'the batch finished without touching the room')
    await remover.query('COMMIT')
    const { rows } = await committing
    await batch.query('COMMIT')
    t.same(rows.map((r) => r.outcome), ['room_gone'], 'refused: the batch never locked that room')
    t.equal(await stored(roomId), 0, 'no message is left without its room')
  })
})

/** Whether `waiter`'s backend comes to wait for a lock that `holder`'s holds (polled every 50 ms, `polls` times). */
async function blockedBy(db: Kysely<Database>, waiter: pg.Client, holder: pg.Client, polls = 100): Promise<boolean> {
  const pid = (client: pg.Client) => (client as unknown as { processID: number }).processID
  for (let i = 0; i < polls; i++) {
    // pg_blocking_pids, not pg_stat_activity's wait event: that can still read Lock just after the lock was granted.
    const { rows } = await sql<{ blocked: boolean }>`SELECT ${pid(holder)}::int = ANY (pg_blocking_pids(${pid(waiter)}::int)) AS blocked`.execute(db)
    if (rows[0]?.blocked) return true
    if (i + 1 < polls) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/** Whether `query` on `client` finished, or came to wait for `blocker`, first (polled for up to 5 s). */
async function finishedOrBlocked(db: Kysely<Database>, client: pg.Client, blocker: pg.Client, query: Promise<unknown>): Promise<'finished' | 'blocked' | 'neither'> {
  let finished = false
  query.then(() => { finished = true }, () => { finished = true })
  for (let i = 0; i < 100; i++) {
    if (finished) return 'finished'
    if (await blockedBy(db, client, blocker, 1)) return 'blocked'
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return 'neither'
}
