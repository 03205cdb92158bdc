import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { startTestNode, type TestNode } from '../helpers/node.ts'

function expectError(t: Test, res: { status: number; body: any }, status: number, code: string, what: string) {
  t.equal(res.status, status, `${what}: status ${status}`)
  t.equal(res.body?.error?.code, code, `${what}: error.code ${code}`)
  t.ok(typeof res.body?.error?.message === 'string' && res.body.error.message.length > 0, `${what}: has a message`)
}

let app: TestNode
const openDirect = (from: { token: string }, to: { id: string }) =>
  app.http('POST', '/v1/rooms', { token: from.token, body: { type: 'direct', userId: to.id } })
const post = (from: { token: string }, roomId: string, id: string, body: unknown) =>
  app.http('POST', `/v1/rooms/${roomId}/messages`, { token: from.token, body: { id, body } })
const history = (as: { token: string }, roomId: string, query = '') =>
  app.http('GET', `/v1/rooms/${roomId}/messages${query}`, { token: as.token })
const ids = (res: { body: any }) => (res.body.messages as Array<{ id: number }>).map((m) => m.id)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

// One node for every test below; it is closed before the HISTORY_PAGE_MAX node starts.
t.test('rooms and messages on a default node', async (t) => {
  app = await startTestNode(t)
  const alice = await app.user('alice')
  const bob = await app.user('bob')
  const carol = await app.user('carol')
  const dave = await app.user('dave')
  const erin = await app.user('erin')

  const aliceBob = await openDirect(alice, bob)
  const directId: string = aliceBob.body.room.id

  t.test('direct rooms: one per pair of users', async (t) => {
    t.equal(aliceBob.status, 201, 'created the first time')
    t.match(aliceBob.body.room, { id: /^[A-Za-z0-9_-]{12}$/, type: 'direct', name: null, lastMessageId: 0, createdAt: String, lastMessageAt: null })
    t.same(aliceBob.body.room.members.map((m: any) => m.id).sort(), [alice.id, bob.id].sort(), 'both are members')
    t.match(aliceBob.body.room.members.find((m: any) => m.id === bob.id), { username: 'bob', displayName: 'bob', role: String })

    const again = await openDirect(alice, bob)
    t.equal(again.status, 200, 'asked again: 200')
    t.equal(again.body.room.id, directId, 'the same room')
    const fromBob = await openDirect(bob, alice)
    t.equal(fromBob.status, 200, 'asked by the other user: 200')
    t.equal(fromBob.body.room.id, directId, 'the same room')
    t.equal(fromBob.body.room.members.length, 2, 'still two members')
  })

  t.test('concurrent direct requests give one room', async (t) => {
    const results = await Promise.all([
      openDirect(carol, dave), openDirect(dave, carol), openDirect(carol, dave), openDirect(dave, carol), openDirect(carol, dave),
    ])
    t.same(results.map((r) => r.status).sort(), [200, 200, 200, 200, 201], 'one 201, four 200')
    const roomIds = new Set(results.map((r) => r.body.room?.id))
    t.equal(roomIds.size, 1, `one room id: ${[...roomIds].join(', ')}`)
    const listed = await app.http('GET', '/v1/rooms', { token: carol.token })
    t.equal(listed.body.rooms.filter((r: any) => r.type === 'direct').length, 1, 'carol has exactly one direct room')
    t.equal(listed.body.rooms[0].members.length, 2)
  })

  t.test('direct room refusals', async (t) => {
    expectError(t, await openDirect(alice, alice), 400, 'validation_failed', 'with yourself')
    expectError(t, await openDirect(alice, { id: 'NoSuchUser00' }), 404, 'user_not_found', 'with an unknown user')
    expectError(t, await openDirect(alice, { id: 'bad id' }), 400, 'validation_failed', 'with a malformed user id')
    expectError(t, await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct' } }), 400, 'validation_failed', 'without a user id')
    expectError(t, await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'channel', userId: bob.id } }), 400, 'validation_failed', 'unknown type')
    expectError(t, await app.http('POST', '/v1/rooms', { body: { type: 'direct', userId: bob.id } }), 401, 'unauthenticated', 'without a token')
  })

  let groupId = ''
  t.test('group rooms', async (t) => {
    const res = await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'Team', memberIds: [bob.id, carol.id, alice.id, bob.id] } })
    t.equal(res.status, 201)
    groupId = res.body.room.id
    t.match(res.body.room, { type: 'group', name: 'Team', lastMessageId: 0 })
    t.not(groupId, directId)
    const roles = Object.fromEntries(res.body.room.members.map((m: any) => [m.id, m.role]))
    t.same(roles, { [alice.id]: 'owner', [bob.id]: 'member', [carol.id]: 'member' }, 'creator is owner, members deduplicated')

    const second = await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'Team', memberIds: [bob.id] } })
    t.equal(second.status, 201, 'a second group of the same name is a new room')
    t.not(second.body.room.id, groupId)

    const solo = await app.http('POST', '/v1/rooms', { token: erin.token, body: { type: 'group', name: 'Just me', memberIds: [] } })
    t.equal(solo.status, 201, 'a group of one')
    t.same(solo.body.room.members.map((m: any) => [m.id, m.role]), [[erin.id, 'owner']])

    const unknown = await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'Ghosts', memberIds: [bob.id, 'NoSuchUser00'] } })
    expectError(t, unknown, 404, 'user_not_found', 'group with an unknown member')
    t.match(unknown.body.error.message, /NoSuchUser00/, 'names the unknown id')
    t.notOk((await app.http('GET', '/v1/rooms', { token: bob.token })).body.rooms.some((r: any) => r.name === 'Ghosts'), 'no room was created')
    expectError(t, await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', memberIds: [bob.id] } }), 400, 'validation_failed', 'group without a name')
    expectError(t, await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: '  ', memberIds: [] } }), 400, 'validation_failed', 'blank name')
    expectError(t, await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'x', memberIds: ['bad'] } }), 400, 'validation_failed', 'malformed member id')
  })

  t.test('listing and reading rooms is for members only', async (t) => {
    const mine = async (user: { token: string }) => {
      const res = await app.http('GET', '/v1/rooms', { token: user.token })
      t.equal(res.status, 200)
      return new Set((res.body.rooms as Array<{ id: string }>).map((r) => r.id))
    }
    const aliceRooms = await mine(alice)
    t.ok(aliceRooms.has(directId) && aliceRooms.has(groupId), 'alice sees her direct and group rooms')
    t.equal(aliceRooms.size, 3, 'and only her three rooms')
    const daveRooms = await mine(dave)
    t.notOk(daveRooms.has(directId) || daveRooms.has(groupId), 'dave sees neither')
    t.equal(daveRooms.size, 1, 'dave sees only his room with carol')
    t.same(await mine(erin), new Set([(await app.http('GET', '/v1/rooms', { token: erin.token })).body.rooms[0].id]))
    expectError(t, await app.http('GET', '/v1/rooms'), 401, 'unauthenticated', 'list without a token')

    const got = await app.http('GET', `/v1/rooms/${groupId}`, { token: carol.token })
    t.equal(got.status, 200)
    t.equal(got.body.room.id, groupId)
    t.equal(got.body.room.members.length, 3)

    const nonMember = await app.http('GET', `/v1/rooms/${groupId}`, { token: dave.token })
    expectError(t, nonMember, 404, 'room_not_found', 'a non-member reads a room')
    const missing = await app.http('GET', '/v1/rooms/NoSuchRoom00', { token: dave.token })
    expectError(t, missing, 404, 'room_not_found', 'a room that does not exist')
    t.same(nonMember.body, missing.body, 'a non-member cannot tell a room exists')
    expectError(t, await app.http('GET', '/v1/rooms/bad-id', { token: dave.token }), 400, 'validation_failed', 'malformed room id')
    expectError(t, await app.http('GET', `/v1/rooms/${groupId}`), 401, 'unauthenticated', 'read without a token')
  })

  t.test('posting messages', async (t) => {
    const first = await post(alice, directId, 'c1', 'hello bob')
    t.equal(first.status, 201)
    t.match(first.body, { message: { id: 1, roomId: directId, senderId: alice.id, clientMsgId: 'c1', body: 'hello bob', createdAt: String } })
    t.ok(!Number.isNaN(Date.parse(first.body.message.createdAt)), 'createdAt is a date')
    const second = await post(bob, directId, 'c2', 'hi alice')
    t.equal(second.status, 201)
    t.equal(second.body.message.id, 2)
    const third = await post(alice, directId, 'c3', 'how are you?')
    t.equal(third.body.message.id, 3)

    const resend = await post(alice, directId, 'c1', 'hello bob')
    t.equal(resend.status, 200, 'the same client id again: 200')
    t.same(resend.body, first.body, 'the same message')
    const resendChanged = await post(alice, directId, 'c1', 'a different body')
    t.equal(resendChanged.status, 200, 'a resend with another body is still the stored message')
    t.same(resendChanged.body, first.body)
    const bobSameId = await post(bob, directId, 'c1', 'my own c1')
    t.equal(bobSameId.status, 201, 'client ids are per sender')
    t.equal(bobSameId.body.message.id, 4)

    const stored = await history(bob, directId)
    t.equal(stored.status, 200)
    t.same(ids(stored), [1, 2, 3, 4], 'no second row for the resends')
    t.same(stored.body.messages[0], first.body.message, 'history holds the message as acknowledged')
    t.same(stored.body.messages.map((m: any) => m.body), ['hello bob', 'hi alice', 'how are you?', 'my own c1'])
    t.equal(stored.body.hasMore, false)

    const room = await app.http('GET', `/v1/rooms/${directId}`, { token: alice.token })
    t.equal(room.body.room.lastMessageId, 4, 'the room knows its last message')
    t.type(room.body.room.lastMessageAt, 'string')
    const listed = await app.http('GET', '/v1/rooms', { token: alice.token })
    t.equal(listed.body.rooms[0].id, directId, 'the most recently active room is listed first')

    const groupFirst = await post(carol, groupId, 'c1', 'numbering is per room')
    t.equal(groupFirst.body.message.id, 1, 'each room numbers from 1')
  })

  t.test('message refusals', async (t) => {
    expectError(t, await post(dave, directId, 'd1', 'let me in'), 404, 'room_not_found', 'a non-member posts')
    expectError(t, await post(dave, 'NoSuchRoom00', 'd1', 'anyone?'), 404, 'room_not_found', 'posting to a room that does not exist')
    expectError(t, await post(alice, 'bad-id', 'd1', 'x'), 400, 'validation_failed', 'malformed room id')
    expectError(t, await app.http('POST', `/v1/rooms/${directId}/messages`, { body: { id: 'x', body: 'x' } }), 401, 'unauthenticated', 'no token')

    expectError(t, await post(alice, directId, 'big', 'x'.repeat(4097)), 413, 'payload_too_large', 'body of 4097 bytes')
    expectError(t, await post(alice, directId, 'big2', 'é'.repeat(2049)), 413, 'payload_too_large', '2049 two-byte characters (4098 bytes)')
    const atLimit = await post(alice, directId, 'limit', '✓'.repeat(1365) + 'x')
    t.equal(atLimit.status, 201, 'a body of exactly 4096 bytes is accepted')
    // Incompressible, unlike the line above: a body at the limit must fit wherever messages are stored and indexed
    // (a btree entry holds at most 2,704 bytes, so no index may carry the body).
    const incompressible = () => randomBytes(2048).toString('hex')
    const random = await post(alice, directId, 'random', incompressible())
    t.equal(random.status, 201, 'an incompressible body of 4096 bytes is accepted')
    const edited = await app.http('PATCH', `/v1/rooms/${directId}/messages/${random.body.message.id}`, { token: alice.token, body: { body: incompressible() } })
    t.equal(edited.status, 200, 'and edited into another one')

    expectError(t, await post(alice, directId, 'has space', 'x'), 400, 'validation_failed', 'client id with a space')
    expectError(t, await post(alice, directId, 'x'.repeat(65), 'x'), 400, 'validation_failed', 'client id of 65 characters')
    expectError(t, await post(alice, directId, '', 'x'), 400, 'validation_failed', 'empty client id')
    expectError(t, await post(alice, directId, 'e1', ''), 400, 'validation_failed', 'empty body')
    expectError(t, await post(alice, directId, 'e2', '   '), 400, 'validation_failed', 'blank body')
    expectError(t, await post(alice, directId, 'e3', 42), 400, 'validation_failed', 'numeric body')
    expectError(t, await app.http('POST', `/v1/rooms/${directId}/messages`, { token: alice.token, body: { body: 'x' } }), 400, 'validation_failed', 'no client id')
    expectError(t, await app.http('POST', `/v1/rooms/${directId}/messages`, { token: alice.token, body: { id: 'e4', body: 'x', extra: 1 } }), 400, 'validation_failed', 'extra field')
    expectError(t, await app.http('POST', `/v1/rooms/${directId}/messages`, { token: alice.token, rawBody: '{"id":' }), 400, 'bad_request', 'broken JSON')

    const after = await history(alice, directId, '?after=4')
    t.same(after.body.messages.map((m: any) => m.clientMsgId), ['limit', 'random'], 'none of the refused messages was stored')
  })

  t.test('a body with a NUL character is refused as invalid, not as a server failure', async (t) => {
    const res = await post(alice, groupId, 'nul', 'a\u0000b')
    expectError(t, res, 400, 'validation_failed', 'body with NUL')
  })

  t.test('history pages', async (t) => {
    const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'History', memberIds: [bob.id] } })).body.room.id
    for (let i = 1; i <= 25; i++) {
      const res = await post(i % 2 ? alice : bob, room, `h${i}`, `message ${i}`)
      t.equal(res.body.message.id, i, `message ${i} numbered ${i}`)
    }

    const newest = await history(bob, room, '?limit=10')
    t.equal(newest.status, 200)
    t.same(ids(newest), range(16, 25), 'the newest 10, oldest first')
    t.equal(newest.body.hasMore, true)
    t.same(newest.body.messages.map((m: any) => m.body), range(16, 25).map((i) => `message ${i}`))

    const previous = await history(bob, room, `?limit=10&before=${newest.body.messages[0].id}`)
    t.same(ids(previous), range(6, 15), 'before the first id of that page: the previous 10')
    t.equal(previous.body.hasMore, true)
    const oldest = await history(bob, room, `?limit=10&before=${previous.body.messages[0].id}`)
    t.same(ids(oldest), range(1, 5), 'then the first 5')
    t.equal(oldest.body.hasMore, false, 'and nothing before them')

    const forward = await history(alice, room, '?after=0&limit=10')
    t.same(ids(forward), range(1, 10), 'after=0: 1..10')
    t.equal(forward.body.hasMore, true)
    const tail = await history(alice, room, '?after=20')
    t.same(ids(tail), range(21, 25), 'after=20: 21..25')
    t.equal(tail.body.hasMore, false)
    const exact = await history(alice, room, '?after=15&limit=10')
    t.same(ids(exact), range(16, 25))
    t.equal(exact.body.hasMore, false, 'a page that ends exactly at the newest message has no more')
    const none = await history(alice, room, '?after=25')
    t.same(ids(none), [])
    t.equal(none.body.hasMore, false)
    const between = await history(alice, room, '?after=5&before=10')
    t.same(ids(between), [6, 7, 8, 9], 'after and before together')

    const all = await history(alice, room)
    t.same(ids(all), range(1, 25), 'the default page holds all 25')
    t.equal(all.body.hasMore, false)

    for (const query of ['?limit=0', '?limit=abc', '?limit=-1', '?limit=1.5', '?before=0', '?before=x', '?after=-1', '?after=abc']) {
      expectError(t, await history(alice, room, query), 400, 'validation_failed', `history${query}`)
    }
    expectError(t, await history(dave, room), 404, 'room_not_found', 'a non-member reads history')
    expectError(t, await history(dave, room, '?after=0'), 404, 'room_not_found', 'a non-member pages forward')
    expectError(t, await history(alice, 'bad-id'), 400, 'validation_failed', 'malformed room id')
  })

  t.test('injection-looking bodies and ids are stored and returned verbatim', async (t) => {
    const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: "'; DROP TABLE rooms; --", memberIds: [bob.id] } })).body.room
    t.equal(room.name, "'; DROP TABLE rooms; --", 'room name verbatim')
    const bodies = [
      "'; DROP TABLE messages; --",
      '<script>alert("x")</script>',
      "Robert'); DROP TABLE users;--",
      '\\x00 \\u0000 %s %d ${x} {{x}} $1 \\',
      'line 1\nline 2\r\n\ttabbed',
      '" OR 1=1 --',
      '😀 ünïcödé ✓ 中文 עברית',
    ]
    const clientIds = ["'--", '<b>', '"', '%', '\\', '$1', 'id']
    for (const [i, body] of bodies.entries()) {
      const res = await post(bob, room.id, clientIds[i]!, body)
      t.equal(res.status, 201, `stored: ${JSON.stringify(body)}`)
      t.equal(res.body.message.body, body, 'acknowledged verbatim')
      t.equal(res.body.message.clientMsgId, clientIds[i], 'client id verbatim')
    }
    const stored = await history(alice, room.id)
    t.same(stored.body.messages.map((m: any) => m.body), bodies, 'history returns every body verbatim')
    t.same(stored.body.messages.map((m: any) => m.clientMsgId), clientIds, 'and every client id')
    const resend = await post(bob, room.id, "'--", 'again')
    t.equal(resend.status, 200, 'a resend of a quote-laden client id is recognized')
    t.equal(resend.body.message.body, bodies[0])
    const older = await history(alice, directId)
    t.equal(older.status, 200, 'other rooms still work')
    t.ok(older.body.messages.length > 0)
    t.equal((await app.http('GET', '/v1/users?q=' + encodeURIComponent("' OR '1'='1"), { token: alice.token })).body.users.length, 0, 'search with quotes finds nothing')
  })
})

t.test('HISTORY_PAGE_MAX caps the page size', async (t) => {
  const small = await startTestNode(t, { HISTORY_PAGE_MAX: '5' })
  const ann = await small.user('ann')
  const ben = await small.user('ben')
  const room = (await small.http('POST', '/v1/rooms', { token: ann.token, body: { type: 'direct', userId: ben.id } })).body.room.id
  for (let i = 1; i <= 8; i++) {
    t.equal((await small.http('POST', `/v1/rooms/${room}/messages`, { token: ann.token, body: { id: `m${i}`, body: `m${i}` } })).status, 201)
  }
  const get = (query: string) => small.http('GET', `/v1/rooms/${room}/messages${query}`, { token: ben.token })
  const capped = await get('?limit=100')
  t.same(ids(capped), range(4, 8), 'limit=100 gives the newest 5')
  t.equal(capped.body.hasMore, true)
  const byDefault = await get('')
  t.same(ids(byDefault), range(4, 8), 'the default page is capped too')
  t.equal(byDefault.body.hasMore, true)
  const forward = await get('?after=0&limit=50')
  t.same(ids(forward), range(1, 5), 'forward pages are capped')
  t.equal(forward.body.hasMore, true)
  const within = await get('?limit=3')
  t.same(ids(within), range(6, 8), 'a smaller limit is kept')
})

// With the member lists trusted for 1 ms, every page below takes the uncached path, whose own query
// checks membership (MessageService.history); the cached path is the default node's above.
t.test('history of a room whose member list is not cached: members only, checked by the page query', async (t) => {
  const cold = await startTestNode(t, { MEMBERSHIP_CACHE_TTL_MS: '1' })
  const [ann, ben, cat] = [await cold.user('ann'), await cold.user('ben'), await cold.user('cat')]
  const room = (await cold.http('POST', '/v1/rooms', { token: ann.token, body: { type: 'group', name: 'g', memberIds: [ben.id] } })).body.room.id as string
  const empty = (await cold.http('POST', '/v1/rooms', { token: ann.token, body: { type: 'direct', userId: ben.id } })).body.room.id as string
  for (let i = 1; i <= 3; i++) {
    t.equal((await cold.http('POST', `/v1/rooms/${room}/messages`, { token: ann.token, body: { id: `m${i}`, body: `m${i}` } })).status, 201)
  }
  const get = (as: { token: string }, roomId: string, query = '') => cold.http('GET', `/v1/rooms/${roomId}/messages${query}`, { token: as.token })
  await new Promise((resolve) => setTimeout(resolve, 5))

  t.same(ids(await get(ben, room)), [1, 2, 3], 'a member reads the page')
  const beforeFirst = await get(ben, room, '?before=1')
  t.equal(beforeFirst.status, 200, 'a member\'s empty range is a page, not a refusal')
  t.same(beforeFirst.body, { messages: [], hasMore: false })
  t.equal((await get(ann, empty)).status, 200, 'a member of a room without messages gets an empty page')
  // The empty answers above loaded the rooms' member lists: let them expire, so the page query decides.
  await new Promise((resolve) => setTimeout(resolve, 5))
  expectError(t, await get(cat, room), 404, 'room_not_found', 'a non-member of a room with messages')
  expectError(t, await get(cat, empty), 404, 'room_not_found', 'a non-member of a room without messages')
  expectError(t, await get(cat, 'NoSuchRoom00'), 404, 'room_not_found', 'a room that does not exist')

  await cold.node.database.db.deleteFrom('room_members').where('room_id', '=', room).where('user_id', '=', ben.id).execute()
  await new Promise((resolve) => setTimeout(resolve, 5))
  expectError(t, await get(ben, room), 404, 'room_not_found', 'a member removed behind mqchat\'s back is refused by the page query itself')
})
