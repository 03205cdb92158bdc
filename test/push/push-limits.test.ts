import { sql } from 'kysely'
import t from 'tap'
import { loadConfig } from '../../shared/config.ts'
import { startTestNode } from '../helpers/node.ts'
import { closedPort, Device, eventually } from '../helpers/push-service.ts'

/**
 * How far one user can load the push path: the per-user cap on
 * subscriptions, and a worker that keeps delivering when promotion fails.
 */

const keys = new Device('keys', 'https://push.example.com/send/keys').subscription.keys

t.test('PUSH_SUBSCRIPTIONS_PER_USER: a new endpoint beyond it is refused, one the user has is updated', async (t) => {
  t.equal(loadConfig({}).PUSH_SUBSCRIPTIONS_PER_USER, 10, 'ten by default')
  const app = await startTestNode(t, { PUSH_SUBSCRIPTIONS_PER_USER: '3' })
  const alice = await app.user('cap-alice')
  const bob = await app.user('cap-bob')
  const post = (user: { token: string }, endpoint: string, body = { endpoint, keys }) =>
    app.http('POST', '/v1/push/subscriptions', { token: user.token, body })
  const list = async (user: { token: string }) => (await app.http('GET', '/v1/push/subscriptions', { token: user.token })).body.subscriptions.map((s: { endpoint: string }) => s.endpoint)

  const ids: string[] = []
  for (const n of [1, 2, 3]) {
    const res = await post(alice, `https://push.example.com/send/alice-${n}`)
    t.equal(res.status, 201, `device ${n} of 3 is stored`)
    ids.push(res.body.subscription.id)
  }
  const refused = await post(alice, 'https://push.example.com/send/alice-4')
  t.equal(refused.status, 409, 'a fourth device is refused')
  t.equal(refused.body.error.code, 'too_many_push_subscriptions')
  t.same(refused.body.error.details, { limit: 3 }, 'the error names the limit')
  t.same(await list(alice), [1, 2, 3].map((n) => `https://push.example.com/send/alice-${n}`), 'and nothing was stored')

  const fresh = new Device('rotated', 'https://push.example.com/send/rotated').subscription.keys
  const updated = await post(alice, 'https://push.example.com/send/alice-2', { endpoint: 'https://push.example.com/send/alice-2', keys: fresh })
  t.equal(updated.status, 201, 'at the cap, re-registering a device the user has still succeeds')
  t.equal(updated.body.subscription.id, ids[1], 'it is the same subscription')
  const row = await app.node.database.db.selectFrom('push_subscriptions').select(['p256dh', 'auth']).where('id', '=', ids[1]!).executeTakeFirstOrThrow()
  t.same(row, { p256dh: fresh.p256dh, auth: fresh.auth }, 'with its new keys')

  t.equal((await post(bob, 'https://push.example.com/send/bob-1')).status, 201)
  const taken = await post(alice, 'https://push.example.com/send/bob-1')
  t.equal(taken.body?.error?.code, 'too_many_push_subscriptions', 'taking over another account\'s device is a new one for the caller, refused at the cap')
  t.same(await list(bob), ['https://push.example.com/send/bob-1'], 'and it stays with its owner')

  t.equal((await app.http('DELETE', `/v1/push/subscriptions?endpoint=${encodeURIComponent('https://push.example.com/send/alice-1')}`, { token: alice.token })).status, 204)
  t.equal((await post(alice, 'https://push.example.com/send/alice-4')).status, 201, 'a device removed makes room for another')
  t.equal((await list(alice)).length, 3)
})

t.test('concurrent subscribes of one user cannot pass the cap together', async (t) => {
  const app = await startTestNode(t, { PUSH_SUBSCRIPTIONS_PER_USER: '3' })
  const carol = await app.user('race-carol')
  const answers = await Promise.all(Array.from({ length: 24 }, (_, i) =>
    app.http('POST', '/v1/push/subscriptions', { token: carol.token, body: { endpoint: `https://push.example.com/send/race-${i}`, keys } })))
  t.equal(answers.filter((a) => a.status === 201).length, 3, 'three stored')
  t.ok(answers.filter((a) => a.status !== 201).every((a) => a.status === 409 && a.body.error.code === 'too_many_push_subscriptions'), 'the rest refused with the limit error')
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM push_subscriptions WHERE user_id = ${carol.id}`.execute(app.node.database.db)
  t.equal(rows[0]!.n, 3, 'the table holds three')
})

t.test('queued deliveries still go out while promoting due notifications fails', async (t) => {
  const port = await closedPort()
  const app = await startTestNode(t, { PUSH_POLL_MS: '100', PUSH_RETRY_BASE_MS: '600000' })
  const db = app.node.database.db
  const [sender, eve, bob] = await Promise.all([app.user('stuck-sender'), app.user('stuck-eve'), app.user('stuck-bob')])
  for (const [user, name] of [[eve, 'eve'], [bob, 'bob']] as const) {
    const res = await app.http('POST', '/v1/push/subscriptions', { token: user.token, body: { endpoint: `https://127.0.0.1:${port}/${name}`, keys } })
    t.equal(res.status, 201)
  }
  // A collapse row the database refuses to promote (any reason will do): every round fails on it.
  await sql`CREATE FUNCTION refuse_eve() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.user_id = ${sql.lit(eve.id)} THEN RAISE EXCEPTION 'promotion refused for the test'; END IF; RETURN NEW; END $$`.execute(db)
  await sql`CREATE TRIGGER refuse_eve BEFORE UPDATE ON push_pending FOR EACH ROW EXECUTE FUNCTION refuse_eve()`.execute(db)
  const roomId = (await app.http('POST', '/v1/rooms', { token: sender.token, body: { type: 'direct', userId: eve.id } })).body.room.id
  t.equal((await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: sender.token, body: { id: 'stuck', body: 'for eve' } })).status, 201)
  t.ok(await eventually(() => app.logLines.some((l) => l.includes('promotion refused for the test'))), 'promotion fails on eve\'s row')

  // A delivery for bob, already queued (by an earlier promotion, or another node's).
  const sub = await db.selectFrom('push_subscriptions').select('id').where('user_id', '=', bob.id).executeTakeFirstOrThrow()
  const job = await db.insertInto('push_jobs').values({ subscription_id: sub.id, payload: '{"type":"messages"}' }).returning('id').executeTakeFirstOrThrow()
  const tried = async () => (await db.selectFrom('push_jobs').select('attempts').where('id', '=', job.id).executeTakeFirst())?.attempts ?? 0
  t.ok(await eventually(async () => (await tried()) >= 1, 5000), 'bob\'s queued delivery is still claimed and tried')
  t.ok(app.logLines.some((l) => l.includes('promotion refused for the test')), 'while promotion keeps failing')
})

t.test('one promotion queues deliveries for any number of devices (not bounded by bind parameters)', async (t) => {
  const port = await closedPort()
  const app = await startTestNode(t, { PUSH_POLL_MS: '100', PUSH_RETRY_BASE_MS: '600000', PUSH_SUBSCRIPTIONS_PER_USER: '1000' })
  const db = app.node.database.db
  const sender = await app.user('many-sender')
  const members = await Promise.all(Array.from({ length: 41 }, (_, i) => app.user(`many-${i}`)))
  // 41 offline members at the cap of 1,000 devices: 41,000 jobs at two parameters each would be 82,000 bind parameters.
  await sql`INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth)
    SELECT 'm' || lpad(u::text, 3, '0') || lpad(g::text, 8, '0'), (${members.map((m) => m.id)}::text[])[u], ${`https://127.0.0.1:${port}/`} || u || '-' || g, ${keys.p256dh}, ${keys.auth}
    FROM generate_series(1, 41) u, generate_series(1, 1000) g`.execute(db)
  const roomId = (await app.http('POST', '/v1/rooms', { token: sender.token, body: { type: 'group', name: 'many', memberIds: members.map((m) => m.id) } })).body.room.id
  t.equal((await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: sender.token, body: { id: 'many', body: 'for all' } })).status, 201)
  const queued = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM push_jobs`.execute(db)).rows[0]!.n
  t.ok(await eventually(async () => (await queued()) === 41000, 10000), 'one delivery per device is queued')
  t.notOk(app.logLines.some((l) => l.includes('push promotion failed')), 'and the promotion did not fail')
  // Stop the node from trying 41,000 closed ports for the rest of the test.
  await sql`DELETE FROM push_subscriptions`.execute(db)
})

t.test('a member holding more devices than the cap (it was lowered) is pushed to on the newest only', async (t) => {
  const port = await closedPort()
  const app = await startTestNode(t, { PUSH_POLL_MS: '100', PUSH_RETRY_BASE_MS: '600000', PUSH_SUBSCRIPTIONS_PER_USER: '2' })
  const db = app.node.database.db
  const [sender, dave] = await Promise.all([app.user('cap-sender'), app.user('cap-dave')])
  // Four devices stored while the cap was higher, a day apart: d1 the oldest, d4 the newest.
  await sql`INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at)
    SELECT 'capdave' || g, ${dave.id}, ${`https://127.0.0.1:${port}/d`} || g, ${keys.p256dh}, ${keys.auth}, now() - (5 - g) * interval '1 day'
    FROM generate_series(1, 4) g`.execute(db)
  const roomId = (await app.http('POST', '/v1/rooms', { token: sender.token, body: { type: 'direct', userId: dave.id } })).body.room.id
  t.equal((await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: sender.token, body: { id: 'capped', body: 'for dave' } })).status, 201)
  const jobs = async () => (await sql<{ endpoint: string }>`SELECT s.endpoint FROM push_jobs j JOIN push_subscriptions s ON s.id = j.subscription_id ORDER BY s.endpoint`.execute(db)).rows.map((r) => r.endpoint)
  t.ok(await eventually(async () => (await jobs()).length > 0, 10000), 'the message is queued for push')
  t.same(await jobs(), [3, 4].map((g) => `https://127.0.0.1:${port}/d${g}`), 'to the two newest devices, not all four')
  await sql`DELETE FROM push_subscriptions`.execute(db)
})
