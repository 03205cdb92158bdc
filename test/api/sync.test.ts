import t from 'tap'
import { nextMessages, startTestNode } from '../helpers/node.ts'

t.test('catch-up after reconnect returns exactly the missed messages, per room and for all rooms at once', async (t) => {
  const app = await startTestNode(t, { SYNC_ROOM_MAX: '5' })
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const open = async (a: typeof alice, b: typeof bob) => (await app.http('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', userId: b.id } })).body.room.id
  const withBob = await open(alice, bob)
  const withCarol = await open(alice, carol)
  const notMine = await open(bob, carol)

  // Alice is live (clean session, so nothing is queued for her while she is away) and sees bob's first three.
  const aliceClient = await app.mqtt(alice.token, { clientId: 'phone', clean: true })
  await aliceClient.subscribeAsync(`chat/${withBob}/+`, { qos: 1 })
  const bobClient = await app.mqtt(bob.token)
  const live = nextMessages(aliceClient, 3)
  for (let i = 1; i <= 3; i++) await bobClient.publishAsync(`chat/${withBob}/${bob.id}`, JSON.stringify({ id: `b${i}`, body: `live ${i}` }), { qos: 1 })
  const seen = (await live).map((m) => m.payload.id)
  t.same(seen, [1, 2, 3], 'alice saw 1-3 live')
  await aliceClient.endAsync()

  // While she is away: four more from bob, two from carol.
  for (let i = 4; i <= 7; i++) await bobClient.publishAsync(`chat/${withBob}/${bob.id}`, JSON.stringify({ id: `b${i}`, body: `missed ${i}` }), { qos: 1 })
  for (let i = 1; i <= 2; i++) {
    await app.http('POST', `/v1/rooms/${withCarol}/messages`, { token: carol.token, body: { id: `c${i}`, body: `carol ${i}` } })
  }

  const one = await app.http('GET', `/v1/rooms/${withBob}/messages?after=3`, { token: alice.token })
  t.same(one.body.messages.map((m: any) => m.body), ['missed 4', 'missed 5', 'missed 6', 'missed 7'], 'one room: exactly what she missed')

  const sync = await app.http('POST', '/v1/sync', { token: alice.token, body: { rooms: { [withBob]: 3, [notMine]: 0 } } })
  t.equal(sync.status, 200)
  t.same(Object.keys(sync.body.rooms).sort(), [withBob, withCarol].sort(), 'all her rooms, the unnamed one included')
  t.same(sync.body.rooms[withBob].messages.map((m: any) => m.id), [4, 5, 6, 7], 'after the last id she saw')
  t.equal(sync.body.rooms[withBob].hasMore, false)
  t.same(sync.body.rooms[withCarol].messages.map((m: any) => m.body), ['carol 1', 'carol 2'], 'a room she did not name: from the start')
  t.same(sync.body.removedRoomIds, [notMine], "a room that is not hers is reported, and none of its messages")

  const capped = await app.http('POST', '/v1/sync', { token: alice.token, body: { rooms: { [withBob]: 0 }, limit: 50 } })
  t.same(capped.body.rooms[withBob].messages.map((m: any) => m.id), [1, 2, 3, 4, 5], 'at most SYNC_ROOM_MAX per room')
  t.equal(capped.body.rooms[withBob].hasMore, true, 'with hasMore')
  const rest = await app.http('POST', '/v1/sync', { token: alice.token, body: { rooms: { [withBob]: 5 }, limit: 2 } })
  t.same([rest.body.rooms[withBob].messages.map((m: any) => m.id), rest.body.rooms[withBob].hasMore], [[6, 7], false], 'the next page')

  for (const body of [{ rooms: { 'bad id': 1 } }, { rooms: { [withBob]: -1 } }, { rooms: [] }, { other: 1 }]) {
    const bad = await app.http('POST', '/v1/sync', { token: alice.token, body })
    t.same([bad.status, bad.body.error.code], [400, 'validation_failed'], `refused: ${JSON.stringify(body)}`)
  }
  t.equal((await app.http('POST', '/v1/sync', { body: {} })).status, 401, 'needs a token')
})
