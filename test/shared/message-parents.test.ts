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
    const waiting = await waitsForLock(db, remover)
    t.ok(waiting, 'the delete waits for the batch')
    await batch.query('COMMIT')
    t.equal((await deleted).rowCount, 1)
    t.equal(await stored(roomId), 0, 'the batch committed first, and its message went with the room')
  })
})

/** Whether `client`'s backend is waiting for a lock (polled for up to 5 s). */
async function waitsForLock(db: Kysely<Database>, client: pg.Client): Promise<boolean> {
  const pid = (client as unknown as { processID: number }).processID
  for (let i = 0; i < 100; i++) {
    const { rows } = await sql<{ wait: string | null }>`SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = ${pid}`.execute(db)
    if (rows[0]?.wait === 'Lock') return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}
