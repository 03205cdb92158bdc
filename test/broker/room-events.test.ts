import t, { type Test } from 'tap'
import { collect, eventually, nextMessages, sleep, startTestNode } from '../helpers/node.ts'

async function setUp(t: Test, env: Record<string, string> = {}) {
  const app = await startTestNode(t, env)
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const aliceClient = await app.mqtt(alice.token)
  const bobClient = await app.mqtt(bob.token)
  await bobClient.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  await aliceClient.subscribeAsync(`user/${alice.id}/errors`, { qos: 1 })
  return { app, alice, bob, carol, roomId, aliceClient, bobClient, eventsTopic: `chat/${roomId}/events` }
}

// Two throttle tests, so that neither depends on how fast the machine is: drops are checked inside an interval
// far longer than the test, and a pass after the interval with a short one, where waiting longer cannot hurt.
t.test('typing: shown to the room at QoS 0; inside the throttle interval dropped, over MQTT and REST; never stored', async (t) => {
  const { app, alice, roomId, aliceClient, bobClient, eventsTopic } = await setUp(t, { TYPING_THROTTLE_MS: '60000' })
  const events = collect(bobClient)
  const typing = JSON.stringify({ type: 'typing' })
  const first = nextMessages(bobClient, 1, (topic) => topic === eventsTopic, 10_000)
  await aliceClient.publishAsync(eventsTopic, typing, { qos: 0 })
  await first
  await aliceClient.publishAsync(eventsTopic, typing, { qos: 0 })
  const rest = await app.http('POST', `/v1/rooms/${roomId}/typing`, { token: alice.token })
  t.same(rest.body, { sent: false }, 'REST typing inside the interval is dropped too')
  // Its PUBACK follows the throttle's decision: a delivery, were there one, would be on its way.
  await aliceClient.publishAsync(eventsTopic, typing, { qos: 1 })
  await sleep(300) // for anything more to show up
  t.same(events.map((e) => [e.topic, e.payload]), [[eventsTopic, { type: 'typing', roomId, userId: alice.id }]],
    'the first signal passes; the ones inside the interval are dropped')
  const history = await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: alice.token })
  t.same(history.body.messages, [], 'nothing stored')
})

t.test('typing: a signal after the throttle interval passes again', async (t) => {
  const THROTTLE_MS = 200
  const { aliceClient, bobClient, eventsTopic } = await setUp(t, { TYPING_THROTTLE_MS: String(THROTTLE_MS) })
  const typing = JSON.stringify({ type: 'typing' })
  const isTyping = (topic: string) => topic === eventsTopic
  const first = nextMessages(bobClient, 1, isTyping, 10_000)
  await aliceClient.publishAsync(eventsTopic, typing, { qos: 0 })
  await first
  // The interval opened before bob got the first signal, so it is over THROTTLE_MS after that (plus timer slack).
  await sleep(THROTTLE_MS + 100)
  const second = nextMessages(bobClient, 1, isTyping, 10_000)
  await aliceClient.publishAsync(eventsTopic, typing, { qos: 1 })
  t.equal((await second).length, 1, `one signal per ${THROTTLE_MS} ms passes`)
})

t.test('edit and delete over MQTT and REST: events to members, history reflects them', async (t) => {
  const { app, alice, bob, roomId, aliceClient, bobClient, eventsTopic } = await setUp(t, { MESSAGE_MAX_BYTES: '50' })
  const delivered = nextMessages(bobClient, 2)
  await aliceClient.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'a1', body: 'helo' }), { qos: 1 })
  await aliceClient.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'a2', body: 'oops' }), { qos: 1 })
  await delivered

  const edited = nextMessages(bobClient, 1, (topic) => topic === eventsTopic)
  await aliceClient.publishAsync(eventsTopic, JSON.stringify({ type: 'edit', id: 1, body: 'hello' }), { qos: 1 })
  const edit = (await edited)[0]!.payload
  t.match(edit, { type: 'edit', roomId, message: { id: 1, senderId: alice.id, clientMsgId: 'a1', body: 'hello', editedAt: String } }, 'edit event over MQTT')

  const removed = nextMessages(bobClient, 1, (topic) => topic === eventsTopic)
  const del = await app.http('DELETE', `/v1/rooms/${roomId}/messages/2`, { token: alice.token })
  t.equal(del.status, 200)
  t.match(del.body.message, { id: 2, body: null, deletedAt: String })
  t.same((await removed)[0]!.payload, { type: 'delete', roomId, id: 2, deletedAt: del.body.message.deletedAt }, 'delete event')

  const history = (await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: bob.token })).body.messages
  t.same(history.map((m: any) => [m.id, m.body, !!m.editedAt, !!m.deletedAt]), [[1, 'hello', true, false], [2, null, false, true]],
    'history: the edit is shown, the deleted message keeps its place without its body')

  const again = await app.http('DELETE', `/v1/rooms/${roomId}/messages/2`, { token: alice.token })
  t.same([again.status, again.body.message.deletedAt], [200, del.body.message.deletedAt], 'deleting twice changes nothing')
  const expect = async (res: Promise<{ status: number; body: any }>, status: number, code: string, what: string) => {
    const r = await res
    t.same([r.status, r.body?.error?.code], [status, code], what)
  }
  await expect(app.http('PATCH', `/v1/rooms/${roomId}/messages/2`, { token: alice.token, body: { body: 'x' } }), 409, 'message_deleted', 'a deleted message cannot be edited')
  await expect(app.http('PATCH', `/v1/rooms/${roomId}/messages/1`, { token: bob.token, body: { body: 'x' } }), 403, 'not_message_sender', "bob cannot edit alice's message")
  await expect(app.http('DELETE', `/v1/rooms/${roomId}/messages/1`, { token: bob.token }), 403, 'not_message_sender', "bob cannot delete it")
  await expect(app.http('PATCH', `/v1/rooms/${roomId}/messages/9`, { token: alice.token, body: { body: 'x' } }), 404, 'message_not_found', 'no message 9')
  await expect(app.http('PATCH', `/v1/rooms/${roomId}/messages/1`, { token: alice.token, body: { body: 'x'.repeat(51) } }), 413, 'payload_too_large', 'an edit obeys MESSAGE_MAX_BYTES')
  await expect(app.http('PATCH', `/v1/rooms/${roomId}/messages/1`, { token: alice.token, body: { body: ' ' } }), 400, 'validation_failed', 'a blank edit')
  await expect(app.http('PATCH', `/v1/rooms/${roomId}/messages/abc`, { token: alice.token, body: { body: 'x' } }), 400, 'validation_failed', 'a malformed message id')
  t.equal((await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: bob.token })).body.messages[0].body, 'hello', 'refused edits changed nothing')
})

t.test('refused events are reported on the sender\'s error topic, and the connection stays up', async (t) => {
  const { app, alice, carol, roomId, aliceClient, eventsTopic } = await setUp(t)
  const errors = collect(aliceClient)
  await aliceClient.publishAsync(eventsTopic, 'not json', { qos: 1 })
  await aliceClient.publishAsync(eventsTopic, JSON.stringify({ type: 'dance' }), { qos: 1 })
  await aliceClient.publishAsync(eventsTopic, JSON.stringify({ type: 'read', lastReadId: 5 }), { qos: 1 })
  await aliceClient.publishAsync(eventsTopic, JSON.stringify({ type: 'edit', id: 1, body: 'x' }), { qos: 1 })
  const carolClient = await app.mqtt(carol.token)
  await carolClient.subscribeAsync(`user/${carol.id}/errors`, { qos: 1 })
  const carolErrors = nextMessages(carolClient, 1)
  await carolClient.publishAsync(eventsTopic, JSON.stringify({ type: 'typing' }), { qos: 1 })
  await eventually(() => errors.length >= 4)
  await sleep(200) // for anything more to show up
  t.same(errors.map((e) => e.payload.code), ['validation_failed', 'validation_failed', 'validation_failed', 'message_not_found'],
    'bad JSON, unknown type, read beyond the newest, edit of a missing message')
  t.ok(errors.every((e) => e.topic === `user/${alice.id}/errors` && e.payload.topic === eventsTopic), 'each names the topic')
  t.equal((await carolErrors)[0]!.payload.code, 'room_not_found', 'a non-member may not send room events')
  t.ok(aliceClient.connected, 'still connected')
})
