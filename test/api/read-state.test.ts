import t from 'tap'
import { collect, nextMessages, sleep, startTestNode, type TestNode } from '../helpers/node.ts'

type User = Awaited<ReturnType<TestNode['user']>>

async function directRoom(app: TestNode, a: User, b: User): Promise<string> {
  return (await app.http('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', userId: b.id } })).body.room.id
}

async function send(app: TestNode, user: User, roomId: string, clientMsgId: string, body = clientMsgId): Promise<number> {
  const res = await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: user.token, body: { id: clientMsgId, body } })
  if (res.status !== 201) throw new Error(`send ${clientMsgId}: ${res.status}`)
  return res.body.message.id
}

const roomOf = async (app: TestNode, user: User, roomId: string) =>
  (await app.http('GET', '/v1/rooms', { token: user.token })).body.rooms.find((r: any) => r.id === roomId)

t.test('marking read over REST and MQTT: forward only, receipts to the room, unread counts', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const roomId = await directRoom(app, alice, bob)
  for (let i = 1; i <= 5; i++) await send(app, bob, roomId, `b${i}`)
  await send(app, alice, roomId, 'a1')

  let room = await roomOf(app, alice, roomId)
  t.equal(room.unreadCount, 5, "alice: bob's five messages are unread, her own is not")
  t.match(room.lastMessage, { id: 6, senderId: alice.id, body: 'a1' }, 'the room carries its newest message')
  t.equal((await roomOf(app, bob, roomId)).unreadCount, 1, 'bob: one unread, from alice')
  t.same((await app.http('GET', '/v1/rooms/unread', { token: alice.token })).body, { rooms: [{ roomId, unreadCount: 5 }], total: 5 })

  const bobClient = await app.mqtt(bob.token)
  await bobClient.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  const receipt = nextMessages(bobClient, 1, (topic) => topic === `chat/${roomId}/events`)
  const marked = await app.http('PUT', `/v1/rooms/${roomId}/read`, { token: alice.token, body: { lastReadId: 3 } })
  t.same([marked.status, marked.body], [200, { roomId, lastReadId: 3 }], 'marked read up to 3')
  t.same((await receipt)[0]!.payload, { type: 'read', roomId, userId: alice.id, lastReadId: 3 }, 'bob sees the receipt live')
  t.equal((await roomOf(app, alice, roomId)).unreadCount, 2, 'two of bob\'s messages after 3')

  const events = collect(bobClient)
  const back = await app.http('PUT', `/v1/rooms/${roomId}/read`, { token: alice.token, body: { lastReadId: 2 } })
  t.same([back.status, back.body.lastReadId], [200, 3], 'an older id leaves the position at 3')
  const beyond = await app.http('PUT', `/v1/rooms/${roomId}/read`, { token: alice.token, body: { lastReadId: 7 } })
  t.same([beyond.status, beyond.body.error.code], [400, 'validation_failed'], 'beyond the newest message: refused')
  t.match(beyond.body.error.message, /newest message \(6\)/)
  for (const lastReadId of [0, -1, 1.5, '4']) {
    const bad = await app.http('PUT', `/v1/rooms/${roomId}/read`, { token: alice.token, body: { lastReadId } })
    t.equal(bad.status, 400, `lastReadId ${JSON.stringify(lastReadId)} refused`)
  }
  const outsider = await app.http('PUT', `/v1/rooms/${roomId}/read`, { token: carol.token, body: { lastReadId: 1 } })
  t.same([outsider.status, outsider.body.error.code], [404, 'room_not_found'], 'a non-member cannot mark the room')

  const aliceClient = await app.mqtt(alice.token)
  const mqttReceipt = nextMessages(bobClient, 1, (topic) => topic === `chat/${roomId}/events`)
  await aliceClient.publishAsync(`chat/${roomId}/events`, JSON.stringify({ type: 'read', lastReadId: 6 }), { qos: 1 })
  t.same((await mqttReceipt)[0]!.payload, { type: 'read', roomId, userId: alice.id, lastReadId: 6 }, 'marked over MQTT; receipt live')
  await sleep(200)
  t.same(events.map((e) => e.payload.lastReadId), [6], 'no receipt for the refused or backward marks')

  room = await roomOf(app, alice, roomId)
  t.equal(room.unreadCount, 0, 'nothing unread')
  t.equal(room.members.find((m: any) => m.id === alice.id).lastReadId, 6, "alice's position, as every member sees it")
  t.equal((await roomOf(app, bob, roomId)).members.find((m: any) => m.id === alice.id).lastReadId, 6, 'bob reads it too')
})

t.test('unread counts stay exact under concurrent sends and reads', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = await directRoom(app, alice, bob)
  const total = 60
  let newest = 0
  const sends = Array.from({ length: total }, (_, i) => send(app, bob, roomId, `m${i}`).then((id) => { newest = Math.max(newest, id) }))
  const marks: Array<Promise<unknown>> = []
  for (let i = 0; i < 20; i++) {
    await sleep(5)
    if (newest > 0) marks.push(app.http('PUT', `/v1/rooms/${roomId}/read`, { token: alice.token, body: { lastReadId: newest } }))
  }
  await Promise.all([...sends, ...marks])
  const positions = (await Promise.all(marks)) as Array<{ status: number; body: { lastReadId: number } }>
  t.ok(positions.every((p) => p.status === 200), 'every mark accepted')
  const room = await roomOf(app, alice, roomId)
  const stored = room.members.find((m: any) => m.id === alice.id).lastReadId
  t.equal(stored, Math.max(0, ...positions.map((p) => p.body.lastReadId)), 'the stored position is the furthest one marked')
  t.equal(room.unreadCount, total - stored, 'unread = messages after the position')
  t.equal(room.lastMessageId, total)

  const concurrent = await Promise.all([total, 10, 30, 20].map((lastReadId) => app.http('PUT', `/v1/rooms/${roomId}/read`, { token: alice.token, body: { lastReadId } })))
  t.ok(concurrent.every((r) => r.status === 200))
  t.equal((await roomOf(app, alice, roomId)).unreadCount, 0, 'concurrent marks never move the position back')

  const deleted = await app.http('DELETE', `/v1/rooms/${roomId}/messages/${await send(app, bob, roomId, 'gone')}`, { token: bob.token })
  t.equal(deleted.status, 200)
  await send(app, bob, roomId, 'kept')
  t.equal((await roomOf(app, alice, roomId)).unreadCount, 1, 'a deleted message is not counted as unread')
})

t.test('the room list is ordered by last activity', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const withBob = await directRoom(app, alice, bob)
  const withCarol = await directRoom(app, alice, carol)
  const order = async () => (await app.http('GET', '/v1/rooms', { token: alice.token })).body.rooms.map((r: any) => r.id)
  t.same(await order(), [withCarol, withBob], 'newest room first while neither has messages')
  await send(app, bob, withBob, 'x')
  t.same(await order(), [withBob, withCarol], 'a message moves its room to the top')
  await send(app, carol, withCarol, 'y')
  t.same(await order(), [withCarol, withBob])
  t.equal((await roomOf(app, alice, withCarol)).lastMessage.body, 'y')
  t.equal((await roomOf(app, alice, withBob)).lastMessage.body, 'x')
})
