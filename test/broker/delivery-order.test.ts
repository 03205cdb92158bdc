import type { MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import { sleep, startTestNode, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

// Aedes delivers a packet to a client only if its broker counter is above the last one that client got
// from the same node (lib/client.js, `dedupe`), so a node must emit its packets in counter order. With
// the Redis persistence a QoS 1 publish is emitted only after its session queues are written, one round
// trip per persistent subscriber, and a QoS 0 publish is emitted at once: unordered, a message of a room
// with more persistent subscribers is overtaken and dropped (aedes issue #955; broker/emit-in-order.ts).
const PER_SENDER = 300
const needs = { skip: onlyWithRedis().skip || onlyWithPostgres().skip }

async function group(app: TestNode, ownerToken: string, memberIds: string[]): Promise<string> {
  return (await app.http('POST', '/v1/rooms', { token: ownerToken, body: { type: 'group', name: 'g', memberIds } })).body.room.id
}

/** Carol's phone: a connected persistent session of `rooms`, counting the message numbers it gets per room. */
async function phone(app: TestNode, token: string, rooms: string[]) {
  const client = await app.mqtt(token, { clientId: 'phone', clean: false })
  const got = new Map(rooms.map((room) => [room, new Set<number>()]))
  client.on('message', (topic, payload) => {
    if (!topic.endsWith('/events')) got.get(topic.split('/')[1]!)!.add(JSON.parse(payload.toString()).id)
  })
  await client.subscribeAsync(rooms.map((room) => `chat/${room}/+`), { qos: 1 })
  return got
}

/** Dave's tablet: a persistent session of `room`, left offline, so each message of the room has one more session queue to write. */
async function offlineTablet(app: TestNode, token: string, room: string): Promise<void> {
  const tablet = await app.mqtt(token, { clientId: 'tablet', clean: false })
  await tablet.subscribeAsync(`chat/${room}/+`, { qos: 1 })
  await tablet.endAsync()
}

/** Bob typing in `room` every millisecond until the returned stop is called. */
function typingThroughout(client: MqttClient, room: string): () => void {
  const timer = setInterval(() => client.publish(`chat/${room}/events`, JSON.stringify({ type: 'typing' }), { qos: 0 }), 1)
  return () => clearInterval(timer)
}

/** Sends PER_SENDER messages from `client` to `room`, all at once; resolves once every PUBACK is in. */
function burst(client: MqttClient, room: string, userId: string, tag: string): Array<Promise<unknown>> {
  return Array.from({ length: PER_SENDER }, (_, i) => client.publishAsync(`chat/${room}/${userId}`, JSON.stringify({ id: `${tag}${i}`, body: `${tag}${i}` }), { qos: 1 }))
}

/** Asserts `got` holds messages 1..PER_SENDER of `room`, once they stop arriving. */
async function everyMessage(t: Test, got: Map<string, Set<number>>, room: string, name: string) {
  for (let waited = 0; waited < 10_000 && got.get(room)!.size < PER_SENDER; waited += 100) await sleep(100)
  const missing = Array.from({ length: PER_SENDER }, (_, k) => k + 1).filter((id) => !got.get(room)!.has(id))
  t.same(missing.slice(0, 20), [], `carol got all ${PER_SENDER} messages of ${name} live (${missing.length} missed)`)
}

t.test('a connected persistent session gets every message of two rooms with different numbers of persistent subscribers', needs, async (t) => {
  const url = redisUrl(t)
  const app = await startTestNode(t, { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) })
  const [alice, bob, carol, dave] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol'), app.user('dave')])
  const busy = await group(app, alice.token, [carol.id, dave.id])
  const quiet = await group(app, bob.token, [carol.id])
  await offlineTablet(app, dave.token, busy)
  const got = await phone(app, carol.token, [busy, quiet])

  const [aliceClient, bobClient] = await Promise.all([app.mqtt(alice.token), app.mqtt(bob.token)])
  await Promise.all([...burst(aliceClient, busy, alice.id, 'a'), ...burst(bobClient, quiet, bob.id, 'b')])
  await everyMessage(t, got, busy, 'the room with two session queues')
  await everyMessage(t, got, quiet, 'the room with one')
})

t.test('typing signals (QoS 0) do not overtake the messages of their room', needs, async (t) => {
  const url = redisUrl(t)
  // Every signal is passed on, so that many are in flight while the messages are.
  const app = await startTestNode(t, { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url), TYPING_THROTTLE_MS: '1' })
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const room = await group(app, alice.token, [bob.id, carol.id])
  const got = await phone(app, carol.token, [room])

  const [aliceClient, bobClient] = await Promise.all([app.mqtt(alice.token), app.mqtt(bob.token)])
  const stopTyping = typingThroughout(bobClient, room)
  try {
    await Promise.all(burst(aliceClient, room, alice.id, 'a'))
  } finally {
    stopTyping()
  }
  await everyMessage(t, got, room, 'the room, bob typing throughout')
})

t.test('across two nodes: a phone on node B gets every message sent on node A, typing between', needs, async (t) => {
  const url = redisUrl(t)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url), TYPING_THROTTLE_MS: '1' }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const [alice, bob, carol, dave] = await Promise.all([nodeA.user('alice'), nodeA.user('bob'), nodeA.user('carol'), nodeA.user('dave')])
  const busy = await group(nodeA, alice.token, [bob.id, carol.id, dave.id])
  const quiet = await group(nodeA, bob.token, [carol.id])
  await offlineTablet(nodeA, dave.token, busy)
  const got = await phone(nodeB, carol.token, [busy, quiet])

  const [aliceClient, bobClient] = await Promise.all([nodeA.mqtt(alice.token), nodeA.mqtt(bob.token)])
  const stopTyping = typingThroughout(bobClient, busy)
  try {
    await Promise.all([...burst(aliceClient, busy, alice.id, 'a'), ...burst(bobClient, quiet, bob.id, 'b')])
  } finally {
    stopTyping()
  }
  await everyMessage(t, got, busy, 'the busy room, typing throughout, from the other node')
  await everyMessage(t, got, quiet, 'the quiet room, from the other node')
})
