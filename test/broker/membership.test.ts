import { randomBytes } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import pg from 'pg'
import t, { type Test } from 'tap'
import { collect, eventually, holdRoomLock, nextMessages, sleep, startTestNode, subackCodes, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisUrl, redisPrefix } from '../helpers/services.ts'

type User = { id: string; token: string }

function expectError(t: Test, res: { status: number; body: any }, status: number, code: string, what: string) {
  t.equal(res.status, status, `${what}: status ${status}`)
  t.equal(res.body?.error?.code, code, `${what}: error.code ${code}`)
}

/** Registers and logs in one user per name, in order. */
async function users<const N extends string[]>(app: TestNode, ...names: N): Promise<{ [K in keyof N]: User }> {
  return Promise.all(names.map((n) => app.user(n))) as Promise<{ [K in keyof N]: User }>
}

/** A group room of `owner` with `members`, created over REST; resolves with its id. */
async function group(app: TestNode, owner: User, members: User[], name = 'team'): Promise<string> {
  const res = await app.http('POST', '/v1/rooms', { token: owner.token, body: { type: 'group', name, memberIds: members.map((m) => m.id) } })
  if (res.status !== 201) throw new Error(`create group: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.room.id
}

/** An MQTT client of `user` subscribed to the room's topics (messages and events) and to the user's own streams. */
async function listener(app: TestNode, user: User, roomId: string, opts: { clientId?: string; clean?: boolean } = {}): Promise<MqttClient> {
  const client = await app.mqtt(user.token, opts)
  await client.subscribeAsync([`chat/${roomId}/+`, `user/${user.id}/#`], { qos: 1 })
  return client
}

/** `promise`, or a rejection naming `what` after `ms`, so a lost delivery fails the test instead of stalling it. */
function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms) })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

const roomTopic = (topic: string) => topic.startsWith('chat/')
const roomsOf = (user: User) => (topic: string) => topic === `user/${user.id}/rooms`
const eventsOf = (roomId: string) => (topic: string) => topic === `chat/${roomId}/events`
const send = (app: TestNode, user: User, roomId: string, id: string) =>
  app.http('POST', `/v1/rooms/${roomId}/messages`, { token: user.token, body: { id, body: `text of ${id}` } })
const members = (app: TestNode, user: User, roomId: string) => app.http('GET', `/v1/rooms/${roomId}`, { token: user.token })
const rolesOf = (res: { body: any }) => Object.fromEntries((res.body.room.members as Array<{ username: string; role: string }>).map((m) => [m.username, m.role]))

t.test('room management with live effect on one node', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob, carol, dave, erin, mallory] = await users(app, 'alice', 'bob', 'carol', 'dave', 'erin', 'mallory')
  const remove = (as: User, roomId: string, who: User) => app.http('DELETE', `/v1/rooms/${roomId}/members/${who.id}`, { token: as.token })
  const add = (as: User, roomId: string, who: User[]) => app.http('POST', `/v1/rooms/${roomId}/members`, { token: as.token, body: { userIds: who.map((u) => u.id) } })
  const setRole = (as: User, roomId: string, who: User, role: string) => app.http('PUT', `/v1/rooms/${roomId}/members/${who.id}/role`, { token: as.token, body: { role } })
  const rename = (as: User, roomId: string, name: string) => app.http('PATCH', `/v1/rooms/${roomId}`, { token: as.token, body: { name } })
  const stored = async (roomId: string) => (await app.node.database.db.selectFrom('messages').select('client_msg_id').where('room_id', '=', roomId).orderBy('seq').execute())

  t.test('a removed member, still connected and subscribed, gets nothing further and cannot publish', async (t) => {
    const room = await group(app, alice, [bob, carol])
    const [aliceClient, bobClient, carolClient] = [await listener(app, alice, room), await listener(app, bob, room), await listener(app, carol, room)]
    const before = Promise.all([bobClient, carolClient].map((c) => nextMessages(c, 1, roomTopic)))
    t.equal((await send(app, alice, room, 'before')).status, 201)
    t.same((await before).map(([m]) => m?.payload.clientMsgId), ['before', 'before'], 'control: both members receive while bob is a member')

    const bobGot = collect(bobClient)
    const bobLeft = nextMessages(bobClient, 1, roomsOf(bob))
    const carolEvent = nextMessages(carolClient, 1, eventsOf(room))
    t.equal((await remove(alice, room, bob)).status, 204, 'alice removes bob: 204')
    t.same((await bobLeft)[0]?.payload, { type: 'room_left', roomId: room, reason: 'removed', byUserId: alice.id }, 'bob is told on user/<id>/rooms')
    t.same((await carolEvent)[0]?.payload, { type: 'member_removed', roomId: room, userId: bob.id, byUserId: alice.id }, 'carol gets member_removed')

    const carolAfter = nextMessages(carolClient, 3, roomTopic)
    t.equal((await send(app, alice, room, 'after-rest')).status, 201)
    await aliceClient.publishAsync(`chat/${room}/${alice.id}`, JSON.stringify({ id: 'after-mqtt', body: 'over mqtt' }), { qos: 1 })
    await aliceClient.publishAsync(`chat/${room}/events`, JSON.stringify({ type: 'typing' }), { qos: 1 })
    t.same((await carolAfter).map((m) => m.payload.clientMsgId ?? m.payload.type), ['after-rest', 'after-mqtt', 'typing'], 'carol still receives messages and events')

    const bobError = nextMessages(bobClient, 1, (topic) => topic === `user/${bob.id}/errors`)
    t.ok(await bobClient.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: 'bob-late', body: 'still here?' }), { qos: 1 }), 'bob\'s publish is acknowledged')
    t.match((await bobError)[0]?.payload, { code: 'room_not_found', clientMsgId: 'bob-late', topic: `chat/${room}/${bob.id}` }, 'and refused with room_not_found on user/<id>/errors')
    await sleep(300)
    t.same(bobGot.filter((m) => roomTopic(m.topic)), [], 'bob received nothing of the room: no member_removed, messages or typing')
    t.same((await stored(room)).map((m) => m.client_msg_id), ['before', 'after-rest', 'after-mqtt'], 'bob\'s publish was not stored')
    t.ok(bobClient.connected, 'bob was never disconnected')
    expectError(t, await members(app, bob, room), 404, 'room_not_found', 'bob reads the room')
  })

  t.test('a new member is told over MQTT, may then subscribe, and receives', async (t) => {
    const room = await group(app, alice, [carol])
    t.equal((await send(app, alice, room, 'old')).status, 201)
    const daveClient = await app.mqtt(dave.token)
    await daveClient.subscribeAsync(`user/${dave.id}/rooms`, { qos: 1 })
    t.same(await subackCodes(daveClient, [`chat/${room}/+`]), [128], 'control: refused before being added')
    const carolClient = await listener(app, carol, room)
    const joined = nextMessages(daveClient, 1, roomsOf(dave))
    const carolEvent = nextMessages(carolClient, 1, eventsOf(room))

    const res = await add(alice, room, [dave])
    t.equal(res.status, 200)
    t.same(res.body.addedUserIds, [dave.id], 'dave added')
    t.same(rolesOf(res), { alice: 'owner', carol: 'member', dave: 'member' }, 'as a plain member')
    const [event] = await joined
    t.match(event?.payload, { type: 'room_joined', byUserId: alice.id, room: { id: room, type: 'group', name: 'team', unreadCount: 1, lastMessageId: 1 } }, 'room_joined with the room as dave sees it')
    t.same(event?.payload.room.members.map((m: any) => m.id).sort(), [alice.id, carol.id, dave.id].sort())
    t.same((await carolEvent)[0]?.payload, { type: 'members_added', roomId: room, userIds: [dave.id], byUserId: alice.id }, 'carol gets members_added')

    t.same(await subackCodes(daveClient, [`chat/${room}/+`]), [1], 'dave\'s SUBSCRIBE is granted at once')
    const daveGot = nextMessages(daveClient, 1, roomTopic)
    t.equal((await send(app, carol, room, 'welcome')).status, 201)
    t.match((await daveGot)[0]?.payload, { clientMsgId: 'welcome', senderId: carol.id }, 'and he receives the room\'s messages')
    const daveSend = await send(app, dave, room, 'hi-all')
    t.equal(daveSend.status, 201, 'and may send')

    const again = await add(alice, room, [dave, carol])
    t.same([again.status, again.body.addedUserIds], [200, []], 'adding members again adds nobody')
  })

  t.test('adding unknown or disabled users refuses the whole request', async (t) => {
    const room = await group(app, alice, [])
    const disabled = await app.user('disabled-dan')
    await app.node.database.db.updateTable('users').set({ disabled: true }).where('id', '=', disabled.id).execute()
    const ghost = { id: 'nobody-00000', token: '' }
    const res = await add(alice, room, [erin, ghost, disabled])
    expectError(t, res, 404, 'user_not_found', 'unknown and disabled users')
    t.same(res.body.error.details, { userIds: [ghost.id, disabled.id] }, 'both named in details.userIds')
    t.same(Object.keys(rolesOf(await members(app, alice, room))), ['alice'], 'erin was not added either')
    expectError(t, await app.http('POST', `/v1/rooms/${room}/members`, { token: alice.token, body: { userIds: [] } }), 400, 'validation_failed', 'no user ids')
  })

  t.test('who may do what', async (t) => {
    const room = await group(app, alice, [bob, carol, dave])
    t.equal((await setRole(alice, room, bob, 'admin')).status, 200, 'the owner makes bob an admin')
    const carolClient = await listener(app, carol, room)

    for (const [what, res] of [
      ['rename', await rename(carol, room, 'mine')],
      ['add', await add(carol, room, [erin])],
      ['remove', await remove(carol, room, dave)],
      ['set a role', await setRole(carol, room, dave, 'admin')],
      ['delete the room', await app.http('DELETE', `/v1/rooms/${room}`, { token: carol.token })],
    ] as const) expectError(t, res, 403, 'forbidden', `a member may not ${what}`)
    for (const [what, res] of [
      ['remove the owner', await remove(bob, room, alice)],
      ['set a role', await setRole(bob, room, dave, 'admin')],
      ['delete the room', await app.http('DELETE', `/v1/rooms/${room}`, { token: bob.token })],
    ] as const) expectError(t, res, 403, 'forbidden', `an admin may not ${what}`)
    for (const [what, res] of [
      ['rename', await rename(mallory, room, 'hijacked')],
      ['add', await add(mallory, room, [mallory])],
      ['remove', await remove(mallory, room, carol)],
      ['set a role', await setRole(mallory, room, mallory, 'admin')],
      ['delete the room', await app.http('DELETE', `/v1/rooms/${room}`, { token: mallory.token })],
    ] as const) expectError(t, res, 404, 'room_not_found', `a non-member may not ${what}`)
    expectError(t, await rename(alice, 'nosuchroom00', 'x'), 404, 'room_not_found', 'a room that does not exist')

    const renamed = nextMessages(carolClient, 1, eventsOf(room))
    const byAdmin = await rename(bob, room, '  Renamed  ')
    t.same([byAdmin.status, byAdmin.body.room.name], [200, 'Renamed'], 'an admin renames (the name trimmed)')
    t.same((await renamed)[0]?.payload, { type: 'room_renamed', roomId: room, name: 'Renamed', byUserId: bob.id }, 'members get room_renamed')
    const memberEvents = nextMessages(carolClient, 2, eventsOf(room))
    t.same((await add(bob, room, [erin])).body.addedUserIds, [erin.id], 'an admin adds')
    t.equal((await remove(bob, room, erin)).status, 204, 'an admin removes a member')
    t.same((await memberEvents).map((m) => m.payload.type), ['members_added', 'member_removed'])

    const roleEvent = nextMessages(carolClient, 1, eventsOf(room))
    t.same(rolesOf(await setRole(alice, room, dave, 'admin')), { alice: 'owner', bob: 'admin', carol: 'member', dave: 'admin' })
    t.same((await roleEvent)[0]?.payload, { type: 'member_role', roomId: room, userId: dave.id, role: 'admin', byUserId: alice.id }, 'members get member_role')
    expectError(t, await remove(bob, room, dave), 403, 'forbidden', 'an admin may not remove another admin')
    expectError(t, await setRole(alice, room, alice, 'member'), 403, 'forbidden', 'the owner\'s own role cannot be changed')
    expectError(t, await setRole(alice, room, erin, 'admin'), 404, 'user_not_found', 'a role for a non-member')
    expectError(t, await remove(alice, room, erin), 404, 'user_not_found', 'removing a non-member')
    expectError(t, await setRole(alice, room, dave, 'owner'), 400, 'validation_failed', 'role owner cannot be given')
    expectError(t, await rename(alice, room, '   '), 400, 'validation_failed', 'a blank name')
    t.equal((await remove(alice, room, dave)).status, 204, 'the owner removes an admin')
    t.same(rolesOf(await members(app, alice, room)), { alice: 'owner', bob: 'admin', carol: 'member' })
  })

  t.test('direct rooms keep their two members', async (t) => {
    const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
    expectError(t, await rename(alice, room, 'us'), 409, 'direct_room', 'rename')
    expectError(t, await add(alice, room, [carol]), 409, 'direct_room', 'add')
    expectError(t, await remove(alice, room, bob), 409, 'direct_room', 'remove the other')
    expectError(t, await remove(bob, room, bob), 409, 'direct_room', 'leave')
    expectError(t, await setRole(alice, room, bob, 'admin'), 409, 'direct_room', 'set a role')
    expectError(t, await app.http('DELETE', `/v1/rooms/${room}`, { token: alice.token }), 409, 'direct_room', 'delete')
    const after = await members(app, bob, room)
    t.same([after.body.room.members.length, after.body.room.name], [2, null], 'still two members, no name')
  })

  t.test('an owner leaving passes ownership on; the last member leaving deletes the room', async (t) => {
    const room = await group(app, alice, [bob])
    await add(alice, room, [carol])
    await add(alice, room, [dave])
    await setRole(alice, room, dave, 'admin')
    await setRole(alice, room, carol, 'admin')
    const bobClient = await listener(app, bob, room)
    const aliceClient = await app.mqtt(alice.token)
    await aliceClient.subscribeAsync(`user/${alice.id}/rooms`, { qos: 1 })
    const events = nextMessages(bobClient, 2, eventsOf(room))
    const aliceLeft = nextMessages(aliceClient, 1, roomsOf(alice))

    t.equal((await remove(alice, room, alice)).status, 204, 'the owner leaves (DELETE of her own membership)')
    t.same((await events).map((m) => m.payload), [
      { type: 'member_removed', roomId: room, userId: alice.id, byUserId: alice.id },
      { type: 'member_role', roomId: room, userId: carol.id, role: 'owner', byUserId: alice.id },
    ], 'members learn she left and who owns the room now')
    t.same((await aliceLeft)[0]?.payload, { type: 'room_left', roomId: room, reason: 'left', byUserId: alice.id }, 'she gets room_left (left)')
    t.same(rolesOf(await members(app, bob, room)), { bob: 'member', carol: 'owner', dave: 'admin' }, 'carol, the longest-standing admin, owns it (not bob, a longer-standing plain member)')

    await remove(carol, room, carol)
    t.same(rolesOf(await members(app, bob, room)), { bob: 'member', dave: 'owner' }, 'then dave, the remaining admin')
    await remove(dave, room, dave)
    t.same(rolesOf(await members(app, bob, room)), { bob: 'owner' }, 'with no admin left, the longest-standing member')

    const bobLeft = nextMessages(bobClient, 1, roomsOf(bob))
    t.equal((await remove(bob, room, bob)).status, 204, 'the last member leaves')
    t.same((await bobLeft)[0]?.payload, { type: 'room_left', roomId: room, reason: 'left', byUserId: bob.id })
    t.equal(await app.node.database.db.selectFrom('rooms').select('id').where('id', '=', room).executeTakeFirst(), undefined, 'the room is deleted')
  })

  t.test('the owner deletes a room for everyone', async (t) => {
    const room = await group(app, alice, [bob, carol])
    t.equal((await send(app, bob, room, 'doomed')).status, 201)
    const clients = [
      await listener(app, alice, room),
      await listener(app, bob, room),
      await listener(app, carol, room, { clientId: `carol-${randomBytes(3).toString('hex')}`, clean: false }),
    ]
    const told = clients.map((c, i) => nextMessages(c, 2, (topic) => eventsOf(room)(topic) || roomsOf([alice, bob, carol][i]!)(topic)))
    t.equal((await app.http('DELETE', `/v1/rooms/${room}`, { token: alice.token })).status, 204, 'DELETE by the owner: 204')
    for (const [i, got] of (await within(Promise.all(told), 'room_deleted and room_left')).entries()) {
      t.same(got.map((m) => m.payload).sort((a, b) => a.type.localeCompare(b.type)), [
        { type: 'room_deleted', roomId: room, byUserId: alice.id },
        { type: 'room_left', roomId: room, reason: 'deleted', byUserId: alice.id },
      ], `${['alice', 'bob', 'carol (persistent session)'][i]} gets room_deleted and room_left`)
    }
    expectError(t, await app.http('GET', `/v1/rooms/${room}/messages`, { token: bob.token }), 404, 'room_not_found', 'history afterwards')
    expectError(t, await members(app, alice, room), 404, 'room_not_found', 'the room afterwards')
    t.same(await stored(room), [], 'its messages are gone')
    t.same(await subackCodes(clients[1]!, [`chat/${room}/+`]), [128], 'subscribing to it is refused')
  })
})

t.test('concurrent adds never take a room over ROOM_MAX_MEMBERS', async (t) => {
  const app = await startTestNode(t, { ROOM_MAX_MEMBERS: '5' })
  const [owner, admin] = await users(app, 'owner', 'admin')
  const others = await users(app, 'user1', 'user2', 'user3', 'user4', 'user5', 'user6', 'user7', 'user8')
  const room = await group(app, owner, [admin])
  await app.http('PUT', `/v1/rooms/${room}/members/${admin.id}/role`, { token: owner.token, body: { role: 'admin' } })
  const tooMany = await app.http('POST', `/v1/rooms/${room}/members`, { token: owner.token, body: { userIds: others.slice(0, 4).map((u) => u.id) } })
  expectError(t, tooMany, 409, 'room_full', 'one request for 2 + 4 members')

  const results = await Promise.all(others.map((u, i) => app.http('POST', `/v1/rooms/${room}/members`, { token: (i % 2 ? admin : owner).token, body: { userIds: [u.id] } })))
  const statuses = results.map((r) => r.status)
  t.equal(statuses.filter((s) => s === 200).length, 3, `three of eight concurrent adds succeed (statuses ${statuses.join(' ')})`)
  t.ok(results.every((r) => r.status === 200 || r.body.error.code === 'room_full'), 'the rest are room_full')
  const count = await app.node.database.db.selectFrom('room_members').select((eb) => eb.fn.countAll().as('n')).where('room_id', '=', room).executeTakeFirstOrThrow()
  t.equal(Number(count.n), 5, 'the room has exactly ROOM_MAX_MEMBERS members')
})

/** Resolves with the ms until `check` holds, polled every event-loop turn; rejects after `limitMs`. */
async function timeUntil(check: () => boolean, limitMs: number): Promise<number> {
  const start = performance.now()
  while (!check()) {
    if (performance.now() - start > limitMs) throw new Error(`not within ${limitMs} ms`)
    await new Promise((resolve) => setImmediate(resolve))
  }
  return performance.now() - start
}

/**
 * Disconnects `clients` and waits until `nodes` have let them go: a client
 * still connected when its node closes its Redis connections makes Aedes
 * publish its unsubscription on a closed connection (an unhandled rejection).
 */
async function disconnect(clients: MqttClient[], nodes: TestNode[]): Promise<void> {
  await Promise.all(clients.map((c) => c.endAsync()))
  await timeUntil(() => nodes.every((n) => n.node.broker.aedes.connectedClients === 0), 10_000)
}

/**
 * The documented bound (docs/PROTOCOL.md, "Across nodes") on how long after a
 * change's REST call returns every node's membership cache reflects it.
 * Measured on one host with local Redis and Postgres: 0-2 ms after the call
 * returned (5-12 ms after it was sent), as the note reaches the other node
 * before the HTTP response reaches the client. The test reports the time
 * against it, but fails only past CROSS_NODE_DEADLINE_MS: on a loaded CI
 * machine a scheduling stall can exceed 1 s, and timing belongs to the bench.
 */
const DOCUMENTED_BOUND_MS = 1000
const CROSS_NODE_DEADLINE_MS = 10_000

t.test('cluster: a membership change reaches the other node', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  postgresUrl(t)
  const url = redisUrl(t)
  const prefix = redisPrefix(t, url)
  const nodeA = await startTestNode(t, { REDIS_URL: url, REDIS_KEY_PREFIX: prefix })
  const nodeB = await startTestNode(t, { REDIS_URL: url, REDIS_KEY_PREFIX: prefix }, nodeA)
  const [alice, bob, carol] = await users(nodeA, 'alice', 'bob', 'carol')
  const cacheB = nodeB.node.services.membership

  t.test('a member removed through node A gets nothing further on node B', async (t) => {
    const room = await group(nodeA, alice, [bob, carol])
    const bobOnB = await listener(nodeB, bob, room)
    const carolOnB = await listener(nodeB, carol, room)
    const aliceOnA = await listener(nodeA, alice, room)
    const control = [bobOnB, carolOnB].map((c) => nextMessages(c, 1, roomTopic))
    await aliceOnA.publishAsync(`chat/${room}/${alice.id}`, JSON.stringify({ id: 'c-1', body: 'to both nodes' }), { qos: 1 })
    t.same((await Promise.all(control)).map(([m]) => m?.payload.clientMsgId), ['c-1', 'c-1'], 'control: bob and carol on node B receive what alice sends on node A')
    t.notOk(cacheB.knownNonMember(room, bob.id), 'node B knows bob as a member')
    t.ok(cacheB.knownNonMember(room, 'nobody-00000'), 'node B has the room\'s members loaded')

    const bobGot = collect(bobOnB)
    const carolGot = nextMessages(carolOnB, 3, roomTopic)
    const sent = performance.now()
    t.equal((await nodeA.http('DELETE', `/v1/rooms/${room}/members/${bob.id}`, { token: alice.token })).status, 204)
    const returned = performance.now()
    const afterReturn = await timeUntil(() => cacheB.knownNonMember(room, bob.id), CROSS_NODE_DEADLINE_MS)
    const sinceSent = performance.now() - sent
    t.comment(`node B's cache dropped bob ${afterReturn.toFixed(1)} ms after the REST call returned (${sinceSent.toFixed(1)} ms after it was sent, the call itself ${(returned - sent).toFixed(1)} ms); documented bound ${DOCUMENTED_BOUND_MS} ms`)

    await aliceOnA.publishAsync(`chat/${room}/${alice.id}`, JSON.stringify({ id: 'c-2', body: 'from node A' }), { qos: 1 })
    t.equal((await send(nodeB, carol, room, 'c-3')).status, 201, 'carol sends through node B')
    t.same((await carolGot).map((m) => m.payload.clientMsgId ?? m.payload.type), ['member_removed', 'c-2', 'c-3'], 'carol on node B still receives from both nodes')
    await eventually(() => bobGot.some((m) => roomsOf(bob)(m.topic)))
    await sleep(300) // for anything of the room to show up
    t.same(bobGot.filter((m) => roomTopic(m.topic)).map((m) => m.payload), [], 'bob on node B received nothing of the room from either node')
    t.same(bobGot.filter((m) => roomsOf(bob)(m.topic)).map((m) => m.payload.type), ['room_left'], 'only room_left on his own topic')
    const refused = nextMessages(bobOnB, 1, (topic) => topic === `user/${bob.id}/errors`)
    await bobOnB.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: 'b-late', body: 'hello?' }), { qos: 1 })
    t.match((await refused)[0]?.payload, { code: 'room_not_found', clientMsgId: 'b-late' }, 'his publish on node B is refused')
    await disconnect([bobOnB, carolOnB, aliceOnA], [nodeA, nodeB])
  })

  t.test('a room deleted through node A: its members on node B are told, then it is gone there too', async (t) => {
    const room = await group(nodeA, alice, [bob, carol])
    const carolOnB = await listener(nodeB, carol, room, { clientId: `carol-${randomBytes(3).toString('hex')}`, clean: false })
    const bobOnB = await listener(nodeB, bob, room)
    const told = [carolOnB, bobOnB].map((c, i) => nextMessages(c, 2, (topic) => eventsOf(room)(topic) || roomsOf([carol, bob][i]!)(topic)))
    t.equal((await nodeA.http('DELETE', `/v1/rooms/${room}`, { token: alice.token })).status, 204)
    for (const got of await within(Promise.all(told), 'room_deleted and room_left on node B')) t.same(got.map((m) => m.payload.type).sort(), ['room_deleted', 'room_left'], 'room_deleted and room_left on node B')
    await timeUntil(() => cacheB.knownNonMember(room, carol.id), CROSS_NODE_DEADLINE_MS)
    t.same(await subackCodes(bobOnB, [`chat/${room}/+`]), [128], 'node B refuses subscriptions to it')
    await disconnect([bobOnB, carolOnB], [nodeA, nodeB])
  })
})

t.test('a message that waited for the room while its sender was removed is refused, not stored', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds: [bob.id] } })).body.room.id
  await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: bob.token, body: { id: 'warm', body: 'loads the cache' } })
  const lock = await holdRoomLock(app, roomId)
  // On Postgres, each request goes on once the one before really waits on the room lock. PGlite's single
  // connection cannot show who waits: there, short pauses stand in (a bare-machine run only; CI has Postgres).
  const waitingBehindLock = async (count: number, what: string) => {
    if (!app.schema) return sleep(200)
    t.ok(await eventually(async () => (await lock.waiters()) >= count), what)
  }
  const removal = app.http('DELETE', `/v1/rooms/${roomId}/members/${bob.id}`, { token: alice.token })
  await waitingBehindLock(1, 'the removal waits for the room lock')
  const late = app.http('POST', `/v1/rooms/${roomId}/messages`, { token: bob.token, body: { id: 'late', body: 'sent as he was removed' } })
  await waitingBehindLock(2, 'the message waits behind it')
  await lock.release()
  t.equal((await removal).status, 204, 'removed')
  const answer = await late
  t.same([answer.status, answer.body.error?.code], [404, 'room_not_found'], 'the waiting message is refused')
  const stored = await app.node.database.db.selectFrom('messages').select('client_msg_id').where('room_id', '=', roomId).execute()
  t.same(stored.map((r) => r.client_msg_id), ['warm'], 'and not stored')
})

t.test('members of a new room are told on user/<id>/rooms, the creator is not', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const bobClient = await app.mqtt(bob.token)
  const aliceClient = await app.mqtt(alice.token)
  await bobClient.subscribeAsync(`user/${bob.id}/rooms`, { qos: 1 })
  await aliceClient.subscribeAsync(`user/${alice.id}/rooms`, { qos: 1 })
  const aliceHears = collect(aliceClient)
  const joined = nextMessages(bobClient, 2)
  const direct = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const group = (await app.http('POST', '/v1/rooms', { token: carol.token, body: { type: 'group', name: 'g', memberIds: [bob.id] } })).body.room.id
  const events = (await joined).map((e) => e.payload)
  t.match(events, [{ type: 'room_joined', room: { id: direct, type: 'direct' }, byUserId: alice.id }, { type: 'room_joined', room: { id: group, name: 'g' }, byUserId: carol.id }])
  t.equal((await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).status, 200, 'opening it again')
  await sleep(200)
  t.same(aliceHears, [], 'the creator gets no event')
})

t.test('adding many members reads the room once, not once per new member', onlyWithPostgres(), async (t) => {
  const app = await startTestNode(t)
  const [alice, bob] = await users(app, 'alice', 'bob')
  const newcomers = await Promise.all(Array.from({ length: 40 }, (_, i) => app.user(`newcomer${i}`)))
  const room = await group(app, alice, [bob])
  t.equal((await send(app, bob, room, 'before-them')).status, 201)
  const first = await app.mqtt(newcomers[0]!.token)
  await first.subscribeAsync(`user/${newcomers[0]!.id}/rooms`, { qos: 1 })
  const joined = nextMessages(first, 1, roomsOf(newcomers[0]!))

  // Every query of this process's nodes goes through pg.Client's query (CallbackQueryClient calls it).
  const counted = pg.Client.prototype as unknown as { query(...args: unknown[]): unknown }
  const original = counted.query
  let queries = 0
  counted.query = function (this: unknown, ...args: unknown[]) { queries++; return original.apply(this, args) }
  t.teardown(() => { counted.query = original })
  const res = await app.http('POST', `/v1/rooms/${room}/members`, { token: alice.token, body: { userIds: newcomers.map((u) => u.id) } })
  counted.query = original
  t.equal(res.status, 200)
  t.ok(queries < 25, `${queries} queries to add and announce 40 members (one room view each took 3)`)
  const [event] = await joined
  t.match(event?.payload, { type: 'room_joined', room: { id: room, unreadCount: 1, lastMessageId: 1 } }, 'a newcomer\'s room_joined has the room as they see it')
  t.equal(event?.payload.room.members.length, 42, 'with every member')

  queries = 0
  counted.query = function (this: unknown, ...args: unknown[]) { queries++; return original.apply(this, args) }
  const created = await app.http('POST', '/v1/rooms', { token: bob.token, body: { type: 'group', name: 'crowd', memberIds: newcomers.map((u) => u.id) } })
  counted.query = original
  t.equal(created.status, 201)
  t.ok(queries < 25, `${queries} queries to create a group of 41 and announce it`)
})
