import { spawn } from 'node:child_process'
import t, { type Test } from 'tap'
import { AdminStatsAnswer, AdminUserAnswer, AdminUserPage } from '../../api/admin-schemas.ts'
import { adminCommand } from '../../cli/admin.ts'
import { SYSTEM_USER_ID } from '../../shared/stores/admin-store.ts'
import { collect, nextMessages, refusedWith, sleep, startTestNode, waitUntil, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, postgresUrl } from '../helpers/services.ts'

type User = { id: string; username: string; token: string }

function expectError(t: Test, res: { status: number; body: any }, status: number, code: string, what: string) {
  t.equal(res.status, status, `${what}: status ${status}`)
  t.equal(res.body?.error?.code, code, `${what}: error.code ${code}`)
}

/** `promise`, or a rejection naming `what` after `ms`, so a lost delivery fails the test instead of stalling it. */
function within<T>(promise: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms) })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** Runs `cli/admin.ts` as its own process, as `npm run admin` does, on `env`'s database. */
function runCli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('../../cli/admin.ts', import.meta.url).pathname, ...args],
    { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (chunk) => { out += chunk })
  child.stderr.on('data', (chunk) => { out += chunk })
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })))
}

t.test('administration on one node', async (t) => {
  const app = await startTestNode(t, { HISTORY_PAGE_MAX: '3' })
  const [root, alice, bob, carol] = await Promise.all(['root', 'alice', 'bob', 'carol'].map((n) => app.user(n))) as [User, User, User, User]
  const as = (user: User) => ({
    get: (path: string) => app.http('GET', path, { token: user.token }),
    patch: (path: string, body: unknown) => app.http('PATCH', path, { token: user.token, body }),
    post: (path: string, body: unknown) => app.http('POST', path, { token: user.token, body }),
    delete: (path: string) => app.http('DELETE', path, { token: user.token }),
  })
  const group = async (owner: User, members: User[]) =>
    (await as(owner).post('/v1/rooms', { type: 'group', name: 'g', memberIds: members.map((m) => m.id) })).body.room.id as string

  t.test('the first admin is made by the admin command; there is no default admin', async (t) => {
    const admins = await app.node.database.db.selectFrom('users').select('username').where('admin', '=', true).execute()
    t.same(admins, [], 'after the migrations nobody is an admin')
    expectError(t, await as(root).get('/v1/admin/stats'), 403, 'forbidden', 'before the grant')
    t.match(await adminCommand(app.node.database.db, ['grant', 'ROOT']), { code: 0, output: /root \(.+\) is now an admin/ }, 'grant, username in any case')
    t.match(await as(root).get('/v1/admin/stats'), { status: 200, body: { users: { total: 4, disabled: 0, admins: 1 }, rooms: { total: 0 }, messages: 0 } },
      'after the grant: 200, and the stats count four users (not the system user)')
    t.match(await adminCommand(app.node.database.db, ['grant', 'nobody']), { code: 1, output: /no user named "nobody"/ })
    t.match(await adminCommand(app.node.database.db, ['grant', '$system']), { code: 1 }, 'the system user cannot be made an admin')
    t.match(await adminCommand(app.node.database.db, ['promote', 'alice']), { code: 2, output: /usage/ })
    t.match(await adminCommand(app.node.database.db, ['grant']), { code: 2 })
  })

  t.test('the admin command as a process, on a running cluster\'s database', onlyWithPostgres(), async (t) => {
    const env = { DATABASE_URL: postgresUrl(t), DATABASE_SCHEMA: app.schema, LOG_LEVEL: 'silent' }
    t.match(await runCli(['grant', 'carol'], env), { code: 0, out: /carol .* is now an admin/ })
    t.equal((await as(carol).get('/v1/admin/stats')).status, 200, 'effective at once, without a restart')
    t.match(await adminCommand(app.node.database.db, ['revoke', 'carol']), { code: 0, output: /no longer an admin/ })
    expectError(t, await as(carol).get('/v1/admin/stats'), 403, 'forbidden', 'revoked: 403 at once')
  })

  t.test('every admin route: 403 for a non-admin, 401 without a valid token, and nothing done', async (t) => {
    const room = await group(alice, [bob])
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/v1/admin/users'], ['GET', '/v1/admin/stats'], ['PATCH', `/v1/admin/users/${bob.id}`, { disabled: true }],
      ['DELETE', `/v1/admin/rooms/${room}`], ['POST', `/v1/admin/rooms/${room}/messages`, { body: 'hi' }],
      ['DELETE', '/v1/admin/rooms/not-an-id'], ['PATCH', `/v1/admin/users/${alice.id}`, { admin: true }],
    ]
    for (const [method, path, body] of routes) {
      expectError(t, await app.http(method, path, { token: alice.token, body }), 403, 'forbidden', `${method} ${path} as a non-admin`)
      expectError(t, await app.http(method, path, { body }), 401, 'unauthenticated', `${method} ${path} without a token`)
      expectError(t, await app.http(method, path, { token: `${root.token}x`, body }), 401, 'unauthenticated', `${method} ${path} with a bad token`)
    }
    t.equal((await as(bob).get('/v1/users/me')).status, 200, 'bob is still enabled')
    t.same((await as(alice).get(`/v1/rooms/${room}/messages`)).body.messages, [], 'the room still exists, without a message')
    expectError(t, await as(alice).get('/v1/admin/stats'), 403, 'forbidden', 'alice did not make herself an admin')
  })

  t.test('users: a page at a time (capped by HISTORY_PAGE_MAX), searchable by part of the username', async (t) => {
    await Promise.all(['dave', 'erin', 'Frank', 'al_ex'].map((n) => app.user(n)))
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const res = await as(root).get(`/v1/admin/users?limit=50${cursor ? `&cursor=${cursor}` : ''}`)
      t.equal(res.status, 200)
      t.ok(res.body.users.length <= 3, 'never more than HISTORY_PAGE_MAX (3)')
      t.ok(AdminUserPage.safeParse(res.body).success, 'the page has the documented shape')
      seen.push(...res.body.users.map((u: { username: string }) => u.username))
      cursor = res.body.nextCursor
    } while (cursor)
    t.same(seen, ['al_ex', 'alice', 'bob', 'carol', 'dave', 'erin', 'Frank', 'root'], 'every user once, by username in any case; never the system user')
    const page = await as(root).get('/v1/admin/users?q=AL')
    t.same(page.body.users.map((u: any) => u.username), ['al_ex', 'alice'], 'q matches part of the username, any case')
    t.match(page.body.users[1], { id: alice.id, displayName: 'alice', admin: false, disabled: false, createdAt: String, lastSeenAt: null })
    t.equal(page.body.nextCursor, null)
    t.same((await as(root).get('/v1/admin/users?q=l_')).body.users.map((u: any) => u.username), ['al_ex'], '_ is a character, not a wildcard')
    expectError(t, await as(root).get('/v1/admin/users?cursor=nonsense'), 400, 'validation_failed', 'a made-up cursor')
    const forged = (json: string) => as(root).get(`/v1/admin/users?cursor=${Buffer.from(json).toString('base64url')}`)
    expectError(t, await forged(JSON.stringify({ after: '\u0000' })), 400, 'validation_failed', 'a forged cursor holding a NUL (no 500 from Postgres)')
    expectError(t, await forged('{"after":"\\ud800"}'), 400, 'validation_failed', 'a forged cursor holding a lone surrogate')
    expectError(t, await forged(JSON.stringify({ after: 'x'.repeat(65) })), 400, 'validation_failed', 'a forged cursor with an over-long username')
    expectError(t, await forged(JSON.stringify({ after: '' })), 400, 'validation_failed', 'a forged cursor with an empty username')
    expectError(t, await forged('null'), 400, 'validation_failed', 'a cursor of JSON null')
    t.equal((await forged(JSON.stringify({ after: 'carol' }))).body.users?.[0]?.username, 'dave', 'a well-formed cursor still continues after its username')
    expectError(t, await as(root).get('/v1/admin/users?limit=0'), 400, 'validation_failed', 'limit 0')
    expectError(t, await as(root).get('/v1/admin/users?limit=0x2'), 400, 'validation_failed', 'limit 0x2 (decimal digits only)')
  })

  t.test('disabling a user closes their connections and stops their token; enabling lets them back', async (t) => {
    const bobClient = await app.mqtt(bob.token)
    const closed = new Promise<void>((resolve) => bobClient.once('close', () => resolve()))
    const res = await as(root).patch(`/v1/admin/users/${bob.id}`, { disabled: true })
    t.match(res, { status: 200, body: { user: { id: bob.id, username: 'bob', disabled: true, admin: false } } })
    t.ok(AdminUserAnswer.safeParse(res.body).success, 'the answer has the documented shape')
    await within(closed, 'bob\'s connection closed')
    t.pass('bob\'s live MQTT connection was closed')
    expectError(t, await as(bob).get('/v1/users/me'), 401, 'unauthenticated', 'bob\'s token over REST')
    t.equal(await refusedWith(app.mqtt(bob.token)), 5, 'bob\'s reconnect: CONNACK 5')
    expectError(t, await app.http('POST', '/v1/auth/login', { body: { username: 'bob', password: 'password-bob' } }), 401, 'invalid_credentials', 'bob\'s login')

    t.match(await as(root).patch(`/v1/admin/users/${bob.id}`, { disabled: false }), { status: 200, body: { user: { disabled: false } } })
    t.equal((await as(bob).get('/v1/users/me')).status, 200, 'enabled again: the same token works')
    t.equal(await refusedWith(app.mqtt(bob.token)), undefined, 'and bob connects again')

    expectError(t, await as(root).patch(`/v1/admin/users/${root.id}`, { disabled: true }), 403, 'forbidden', 'an admin disabling themself')
    expectError(t, await as(root).patch(`/v1/admin/users/${root.id}`, { admin: false }), 403, 'forbidden', 'an admin demoting themself')
    expectError(t, await as(root).patch('/v1/admin/users/AAAAAAAAAAAA', { disabled: true }), 404, 'user_not_found', 'an unknown user')
    expectError(t, await as(root).patch(`/v1/admin/users/${SYSTEM_USER_ID}`, { disabled: false }), 404, 'user_not_found', 'the system user')
    expectError(t, await as(root).patch(`/v1/admin/users/${bob.id}`, {}), 400, 'validation_failed', 'no change given')
    expectError(t, await as(root).patch(`/v1/admin/users/${bob.id}`, { disabled: 'yes' }), 400, 'validation_failed', 'not a boolean')
  })

  t.test('admin granted and revoked over REST', async (t) => {
    t.match(await as(root).patch(`/v1/admin/users/${carol.id}`, { admin: true }), { status: 200, body: { user: { admin: true } } })
    t.equal((await as(carol).get('/v1/admin/users')).status, 200, 'carol is an admin')
    await as(root).patch(`/v1/admin/users/${carol.id}`, { admin: false })
    expectError(t, await as(carol).get('/v1/admin/users'), 403, 'forbidden', 'revoked: carol at once')
  })

  t.test('a system message reaches members live and stays in history, through the message path', async (t) => {
    const room = await group(alice, [bob])
    const bobClient = await app.mqtt(bob.token)
    await bobClient.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    const got = collect(bobClient)
    const live = nextMessages(bobClient, 1)
    const posted = await as(root).post(`/v1/admin/rooms/${room}/messages`, { body: 'maintenance at 22:00', id: 'notice-1' })
    t.equal(posted.status, 201)
    const envelope = { id: 1, roomId: room, senderId: SYSTEM_USER_ID, clientMsgId: 'notice-1', body: 'maintenance at 22:00', createdAt: String }
    t.match(posted.body.message, envelope, 'stored as message 1, sent by the system user')
    const [delivered] = await within(live, 'the system message delivered')
    t.match(delivered, { topic: `chat/${room}/${SYSTEM_USER_ID}`, payload: envelope }, 'delivered live on chat/<roomId>/<system id>')
    t.match((await as(alice).get(`/v1/rooms/${room}/messages`)).body.messages, [envelope], 'in history')
    t.equal((await as(alice).get('/v1/rooms/unread')).body.total, 1, 'unread for members')

    const again = await as(root).post(`/v1/admin/rooms/${room}/messages`, { body: 'maintenance at 22:00', id: 'notice-1' })
    t.match(again, { status: 200, body: { message: { id: 1 } } }, 'a retry with the same id: 200, the stored message')
    t.equal((await as(alice).post(`/v1/rooms/${room}/messages`, { id: 'm', body: 'ok' })).body.message.id, 2, 'members go on numbering after it')
    await sleep(200)
    t.same(got.map((m) => m.payload.clientMsgId), ['notice-1', 'm'], 'the retry was not delivered again')
    t.match((await as(root).post(`/v1/admin/rooms/${room}/messages`, { body: 'no id' })).body.message, { id: 3, clientMsgId: /^system-/ })
    expectError(t, await as(root).post('/v1/admin/rooms/AAAAAAAAAAAA/messages', { body: 'x' }), 404, 'room_not_found', 'no such room')
    expectError(t, await as(root).post(`/v1/admin/rooms/${room}/messages`, { body: '  ' }), 400, 'validation_failed', 'blank body')
    expectError(t, await as(root).post(`/v1/admin/rooms/${room}/messages`, { body: 'x', sender: alice.id }), 400, 'validation_failed', 'unknown field')
    expectError(t, await as(alice).post('/v1/rooms', { type: 'direct', userId: SYSTEM_USER_ID }), 404, 'user_not_found', 'nobody can open a room with the system user')
  })

  t.test('deleting a room tells its members, as the owner deleting it would', async (t) => {
    const room = await group(alice, [bob, carol])
    const bobClient = await app.mqtt(bob.token)
    await bobClient.subscribeAsync([`chat/${room}/+`, `user/${bob.id}/#`], { qos: 1 })
    const told = nextMessages(bobClient, 2)
    t.equal((await as(root).delete(`/v1/admin/rooms/${room}`)).status, 204)
    t.same((await within(told, 'the member told')).map((m) => m.payload), [
      { type: 'room_deleted', roomId: room, byUserId: root.id },
      { type: 'room_left', roomId: room, reason: 'deleted', byUserId: root.id },
    ], 'room_deleted on the room, then room_left to the member')
    expectError(t, await as(alice).get(`/v1/rooms/${room}`), 404, 'room_not_found', 'the owner no longer sees it')
    expectError(t, await as(alice).post(`/v1/rooms/${room}/messages`, { id: 'late', body: 'x' }), 404, 'room_not_found', 'nor posts to it')
    expectError(t, await as(root).delete(`/v1/admin/rooms/${room}`), 404, 'room_not_found', 'deleted twice')
    const direct = (await as(alice).post('/v1/rooms', { type: 'direct', userId: carol.id })).body.room.id
    t.equal((await as(root).delete(`/v1/admin/rooms/${direct}`)).status, 204, 'a direct room can be deleted by an admin too')
  })

  t.test('stats count users, rooms, messages and connections', async (t) => {
    const stats = async () => (await as(root).get('/v1/admin/stats')).body
    // Connections of the tests above may still be closing: start once the count has held still for three reads.
    let before = await stats()
    for (let same = 0; same < 3;) {
      await sleep(100)
      const next = await stats()
      same = next.connections.total === before.connections.total ? same + 1 : 0
      before = next
    }
    const dave = await app.user('dave-stats')
    const direct = (await as(dave).post('/v1/rooms', { type: 'direct', userId: alice.id })).body.room.id
    await group(dave, [alice])
    for (const id of ['a', 'b']) await as(dave).post(`/v1/rooms/${direct}/messages`, { id, body: id })
    await as(root).post(`/v1/admin/rooms/${direct}/messages`, { body: 'notice' })
    await as(root).patch(`/v1/admin/users/${carol.id}`, { disabled: true })
    const clients = [await app.mqtt(dave.token), await app.mqtt(dave.token), await app.mqtt(alice.token)]
    await waitUntil(async () => (await stats()).connections.total === before.connections.total + 3, 10_000, 'three more connections counted')
    const after = await stats()
    t.ok(AdminStatsAnswer.safeParse(after).success, 'the stats have the documented shape')
    const delta = (path: (s: any) => number) => path(after) - path(before)
    t.same([delta((s) => s.users.total), delta((s) => s.users.disabled), delta((s) => s.users.admins)], [1, 1, 0], 'users: one more, one more disabled')
    t.same([delta((s) => s.rooms.total), delta((s) => s.rooms.direct), delta((s) => s.rooms.group)], [2, 1, 1], 'rooms: a direct and a group')
    t.equal(delta((s) => s.messages), 3, 'messages: two, and the system message')
    t.same(after.connections.nodes, [{ nodeId: 'local', connections: after.connections.total }], 'one node, unclustered: `local`')
    await clients[0]!.endAsync()
    await waitUntil(async () => (await stats()).connections.total === before.connections.total + 2, 10_000, 'a closed connection stops counting')
    t.pass('a closed connection stopped counting')
  })
})
