import { connect as tcpConnect, type Socket } from 'node:net'
import { sql } from 'kysely'
import t from 'tap'
import { collect, eventually, sleep, startTestNode, type TestNode } from '../helpers/node.ts'

/** A raw MQTT 3.1.1 CONNECT: clean session, empty username, `token` as the password. */
function connectPacket(clientId: string, token: string, keepalive: number): Buffer {
  const str = (s: string) => {
    const bytes = Buffer.from(s)
    return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
  }
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, keepalive >> 8, keepalive & 0xff]), str(clientId), str(''), str(token)])
  const length: number[] = []
  for (let n = body.length; length.length === 0 || n > 0; n = Math.floor(n / 128)) length.push((n % 128) | (n >= 128 ? 0x80 : 0))
  return Buffer.concat([Buffer.from([0x10, ...length]), body])
}

/** Opens a TCP connection to the node's MQTT port and sends CONNECT on it. */
async function rawConnect(app: TestNode, clientId: string, token: string, keepalive = 60): Promise<Socket> {
  const socket = tcpConnect(app.node.ports.mqtt, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(connectPacket(clientId, token, keepalive))
  return socket
}

/** Holds an exclusive lock on `users` in another transaction until `release()`, so CONNECTs wait in authentication. */
async function holdUsersTable(app: TestNode): Promise<{ release(): Promise<void> }> {
  let open!: () => void
  const gate = new Promise<void>((resolve) => { open = resolve })
  let locked!: () => void
  const lockTaken = new Promise<void>((resolve) => { locked = resolve })
  const blocker = app.node.database.db.transaction().execute(async (tx) => {
    await sql`LOCK TABLE users IN ACCESS EXCLUSIVE MODE`.execute(tx)
    locked()
    await gate
  })
  await lockTaken
  return { release: async () => { open(); await blocker } }
}

t.test('presence', async (t) => {
  const app = await startTestNode(t)
  let n = 0

  /** Alice and bob in a direct room; bob watches his presence stream. */
  async function pair() {
    n++
    const [alice, bob] = await Promise.all([app.user(`alice${n}`), app.user(`bob${n}`)])
    const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
    const bobClient = await app.mqtt(bob.token, { clientId: 'watch' })
    await bobClient.subscribeAsync(`user/${bob.id}/presence`, { qos: 1 })
    const seen = collect(bobClient)
    /** Presence events about alice that bob received. */
    const aliceEvents = () => seen.filter((m) => m.topic === `user/${bob.id}/presence` && m.payload.userId === alice.id).map((m) => m.payload)
    const presence = (viewer = bob) => app.http('GET', `/v1/users/${alice.id}/presence`, { token: viewer.token })
    return { alice, bob, room, bobClient, aliceEvents, presence }
  }

  t.test('online with the first device, unchanged by others, offline with lastSeenAt when the last one disconnects', async (t) => {
    const { alice, aliceEvents, presence } = await pair()
    t.same((await presence()).body, { presence: { userId: alice.id, online: false, lastSeenAt: null } }, 'never connected: offline, never seen')

    const phone = await app.mqtt(alice.token, { clientId: 'phone' })
    t.ok(await eventually(() => aliceEvents().length === 1), 'bob is told when alice\'s first device connects')
    t.same(aliceEvents()[0], { type: 'presence', userId: alice.id, online: true, lastSeenAt: null })
    t.same((await presence()).body.presence, { userId: alice.id, online: true, lastSeenAt: null }, 'GET says online')

    const laptop = await app.mqtt(alice.token, { clientId: 'laptop' })
    await sleep(300)
    await laptop.endAsync()
    await sleep(500)
    t.equal(aliceEvents().length, 1, 'nothing when a second device connects and disconnects while the first remains')
    t.equal((await presence()).body.presence.online, true, 'still online')

    const before = Date.now()
    await phone.endAsync()
    t.ok(await eventually(() => aliceEvents().length === 2), 'bob is told when the last device disconnects')
    const offline = aliceEvents()[1]
    t.match(offline, { type: 'presence', userId: alice.id, online: false, lastSeenAt: String })
    t.ok(Math.abs(Date.parse(offline.lastSeenAt) - before) < 10_000, 'lastSeenAt is the time it went')
    t.same((await presence()).body.presence, { userId: alice.id, online: false, lastSeenAt: offline.lastSeenAt }, 'GET shows the stored lastSeenAt')
    t.same((await presence(alice)).body.presence, { userId: alice.id, online: false, lastSeenAt: offline.lastSeenAt }, 'alice may read her own presence')
    const row = await app.node.database.db.selectFrom('users').select('last_seen_at').where('id', '=', alice.id).executeTakeFirstOrThrow()
    t.equal(row.last_seen_at?.toISOString(), offline.lastSeenAt, 'users.last_seen_at holds it')
  })

  t.test('a device that loses its network (socket gone, no DISCONNECT) makes the user offline', async (t) => {
    const { alice, room, aliceEvents, presence } = await pair()
    const phone = await app.mqtt(alice.token, { clientId: 'phone', will: { topic: `chat/${room}/${alice.id}`, payload: Buffer.from('{"id":"will-1","body":"gone"}'), qos: 1, retain: false } })
    t.ok(await eventually(() => aliceEvents().length === 1), 'online')
    phone.stream.destroy()
    t.ok(await eventually(() => aliceEvents().length === 2), 'bob is told she went')
    t.match(aliceEvents()[1], { online: false, lastSeenAt: String })
    t.equal((await presence()).body.presence.online, false, 'GET says offline')
  })

  t.test('a device that goes silent is dropped after 1.5 x its keepalive, and the user goes offline', async (t) => {
    const { alice, aliceEvents, presence } = await pair()
    const silent = await rawConnect(app, 'sensor', alice.token, 1)
    const connack = await new Promise<Buffer>((resolve) => silent.once('data', resolve))
    t.same([...connack], [0x20, 2, 0, 0], 'accepted')
    const closed = new Promise<number>((resolve) => silent.once('close', () => resolve(Date.now())))
    const quietSince = Date.now()
    t.ok(await eventually(() => aliceEvents().length === 1), 'online')
    t.ok(await eventually(() => aliceEvents().length === 2), 'offline once the keepalive ran out')
    t.ok((await closed) - quietSince >= 1400, 'the server closed the socket after 1.5 x 1 s of silence')
    t.match(aliceEvents()[1], { online: false, lastSeenAt: String })
    t.equal((await presence()).body.presence.online, false, 'GET says offline')
  })

  t.test('a takeover with the same client id (whose will is then published) never makes the user offline', async (t) => {
    const { alice, room, aliceEvents, presence } = await pair()
    const will = { topic: `chat/${room}/${alice.id}`, payload: Buffer.from('{"id":"will-2","body":"gone"}'), qos: 1 as const, retain: false }
    const old = await app.mqtt(alice.token, { clientId: 'phone', will })
    t.ok(await eventually(() => aliceEvents().length === 1), 'online')
    const oldClosed = new Promise<void>((resolve) => old.once('close', () => resolve()))
    const taker = await app.mqtt(alice.token, { clientId: 'phone' })
    await oldClosed
    const history = async () => (await app.http('GET', `/v1/rooms/${room}/messages`, { token: alice.token })).body.messages.map((m: { clientMsgId: string }) => m.clientMsgId)
    await eventually(async () => (await history()).length > 0)
    t.same(await history(), ['will-2'], 'the old connection\'s will was published')
    await sleep(300) // for an offline event to show up, were there one
    t.same(aliceEvents().map((e) => e.online), [true], 'bob saw no offline event')
    t.equal((await presence()).body.presence.online, true, 'GET says online')
    t.ok(taker.connected, 'the new connection is the one left')

    await taker.endAsync()
    t.ok(await eventually(() => aliceEvents().length === 2), 'and offline once the new connection goes')
    t.equal(aliceEvents()[1].online, false)
  })

  t.test('connections dropped while connecting leave no count behind', async (t) => {
    const { alice, aliceEvents, presence } = await pair()
    // The users table is locked, so these CONNECTs wait in authentication (on PGlite the whole
    // connection waits) and their sockets are gone before it succeeds.
    const lock = await holdUsersTable(app)
    const waiting = await Promise.all(Array.from({ length: 4 }, (_, i) => rawConnect(app, `early-${i}`, alice.token)))
    await sleep(200)
    for (const socket of waiting) socket.destroy()
    await sleep(100)
    await lock.release()
    // And these go at all stages: before, during and after authentication and registration.
    const flaky = await Promise.all(Array.from({ length: 16 }, (_, i) => rawConnect(app, `flaky-${i}`, alice.token)))
    await Promise.all(flaky.map((socket, i) => sleep(i * 3).then(() => socket.destroy())))
    const phone = await app.mqtt(alice.token, { clientId: 'phone' })
    await sleep(300)
    await phone.endAsync()
    t.ok(await eventually(() => aliceEvents().at(-1)?.online === false), 'the last event is offline')
    const events = aliceEvents().map((e) => e.online)
    t.ok(events.every((online, i) => online === (i % 2 === 0)), `events alternate online/offline: ${events.join(',')}`)
    t.equal((await presence()).body.presence.online, false, 'GET says offline')
  })

  t.test('someone who shares no room can neither read nor receive presence', async (t) => {
    const { alice, aliceEvents } = await pair()
    const carol = await app.user(`carol${n}`)
    const carolClient = await app.mqtt(carol.token)
    await carolClient.subscribeAsync(`user/${carol.id}/presence`, { qos: 1 })
    const carolSeen = collect(carolClient)

    const read = await app.http('GET', `/v1/users/${alice.id}/presence`, { token: carol.token })
    t.equal(read.status, 404)
    t.equal(read.body.error.code, 'user_not_found')
    const unknown = await app.http('GET', '/v1/users/nobody-at-al/presence', { token: carol.token })
    t.same([unknown.status, unknown.body], [read.status, read.body], 'the same answer as for an unknown user')

    const phone = await app.mqtt(alice.token)
    await phone.endAsync()
    t.ok(await eventually(() => aliceEvents().length === 2), 'bob, who shares a room, sees both changes')
    await sleep(300)
    t.same(carolSeen, [], 'carol receives nothing')
  })

  t.test('many at once: GET /v1/presence?userIds=, in the order asked, leaving out who the caller may not see', async (t) => {
    const { alice, bob } = await pair()
    const carol = await app.user(`carol-many${n}`)
    const phone = await app.mqtt(alice.token, { clientId: 'phone' })
    await phone.endAsync()
    await eventually(async () => (await app.http('GET', `/v1/users/${alice.id}/presence`, { token: bob.token })).body.presence.lastSeenAt !== null)
    const ask = (ids: string[], token = bob.token) => app.http('GET', `/v1/presence?userIds=${ids.join(',')}`, { token })

    const answer = await ask([bob.id, alice.id, carol.id, 'nobody-at-al', alice.id])
    t.equal(answer.status, 200)
    const [self, other] = answer.body.presences
    t.same(answer.body.presences.map((p: { userId: string }) => p.userId), [bob.id, alice.id], 'bob himself and alice, once each; carol (no shared room) and an unknown id left out')
    t.same([self.online, self.lastSeenAt], [true, null], 'bob is online (his watcher is connected)')
    t.equal(other.online, false, 'alice is offline')
    t.same(other, (await app.http('GET', `/v1/users/${alice.id}/presence`, { token: bob.token })).body.presence, 'the same answer as the one-user route, lastSeenAt included')
    t.same((await ask([alice.id], carol.token)).body.presences, [], 'carol may see nobody here')

    const tooMany = await ask(Array.from({ length: 101 }, (_, i) => `user-${String(i).padStart(7, '0')}`))
    t.same([tooMany.status, tooMany.body.error.code], [400, 'validation_failed'], 'at most 100 ids')
    t.equal((await app.http('GET', '/v1/presence', { token: bob.token })).status, 400, 'userIds is required')
    t.equal((await ask(['short'])).status, 400, 'each must be an id')
    t.equal((await app.http('GET', `/v1/presence?userIds=${alice.id}`)).status, 401, 'a token is required')
  })

  t.test('the route: own presence, validation, authentication, and the other user routes still answer', async (t) => {
    const { alice, bob } = await pair()
    const phone = await app.mqtt(alice.token, { clientId: 'phone' })
    const self = await app.http('GET', `/v1/users/${alice.id}/presence`, { token: alice.token })
    t.same([self.status, self.body], [200, { presence: { userId: alice.id, online: true, lastSeenAt: null } }], 'alice reads her own presence')
    t.equal((await app.http('GET', `/v1/users/${bob.id}/presence`, { token: alice.token })).body.presence.online, true, 'bob is online (his watcher is connected)')
    await phone.endAsync()

    const bad = await app.http('GET', '/v1/users/short/presence', { token: alice.token })
    t.equal(bad.status, 400)
    t.equal(bad.body.error.code, 'validation_failed')
    t.equal((await app.http('GET', `/v1/users/${bob.id}/presence`)).status, 401, 'a token is required')
    t.equal((await app.http('POST', `/v1/users/${bob.id}/presence`, { token: alice.token })).status, 405)
    t.same((await app.http('GET', '/v1/users/me', { token: alice.token })).body.user.id, alice.id, '/v1/users/me still answers')
    const search = await app.http('GET', `/v1/users?q=${bob.username}`, { token: alice.token })
    t.same(search.body.users.map((u: { id: string }) => u.id), [bob.id], '/v1/users still answers')
  })
})
