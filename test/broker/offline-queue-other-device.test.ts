import { connect, type Socket } from 'node:net'
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { collect, eventually, offlineQueueNode, sleep, startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

// The offline-queue cap exempts a session only while that session itself is connected (its queue then holds
// its unacknowledged deliveries, see offline-queue-connected.test.ts), not while its user is online elsewhere.
const QUEUE_MAX = 2
const SENT = 10

const needsRedis = { skip: onlyWithRedis().skip || onlyWithPostgres().skip }
const states = [
  { name: 'in memory', options: {}, redis: false },
  { name: 'in Redis', options: needsRedis, redis: true },
]

for (const state of states) {
  t.test(`a disconnected persistent session is capped while another device of its user is online (${state.name})`, state.options, async (t) => {
    const { app, alice, bob, room } = await offlineQueueNode(t, QUEUE_MAX, state.redis)

    const tablet = await app.mqtt(alice.token, { clientId: 'tablet', clean: false })
    await tablet.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    await tablet.endAsync()
    // Alice stays online on her laptop (another session) while the tablet is away.
    const laptop = await app.mqtt(alice.token, { clientId: 'laptop' })
    t.equal((await app.http('GET', `/v1/users/${alice.id}/presence`, { token: bob.token })).body.presence.online, true, 'alice is online')

    const bobClient = await app.mqtt(bob.token)
    for (let i = 1; i <= SENT; i++) await bobClient.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: `m${i}`, body: `message ${i}` }), { qos: 1 })
    t.ok(laptop.connected, 'the laptop was online throughout')

    // Listening before CONNACK: the queue follows it at once.
    const again = app.mqttConnecting(alice.token, { clientId: 'tablet', clean: false })
    const queued = collect(again)
    await eventually(() => queued.length >= QUEUE_MAX)
    await sleep(300) // for anything more to show up
    t.same(queued.map((m) => m.payload.id), [1, 2], `the tablet's session queued only ${QUEUE_MAX}, though alice was online`)
    await again.endAsync()
  })
}

/** A raw MQTT client that reads everything and never sends PUBACK; resolves once subscribed. */
async function silentSubscriber(port: number, token: string, clientId: string, topic: string) {
  const socket: Socket = connect(port, '127.0.0.1')
  const parser = mqttPacket.parser()
  const state = { publishes: [] as number[], closed: false, subacked: false }
  socket.on('data', (d) => parser.parse(d))
  socket.on('close', () => { state.closed = true })
  socket.on('error', () => {})
  parser.on('packet', (p: any) => {
    if (p.cmd === 'suback') state.subacked = true
    if (p.cmd === 'publish') state.publishes.push(JSON.parse(p.payload.toString()).id)
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 60, username: '', password: Buffer.from(token) } as any))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as any))
  await eventually(() => state.subacked || state.closed)
  return { state, socket }
}

t.test('a session connected on another node is not capped by the node that takes the publish', needsRedis, async (t) => {
  const url = redisUrl(t)
  const env = { MQTT_OFFLINE_QUEUE_MAX: String(QUEUE_MAX), REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const [alice, bob] = [await nodeA.user('alice'), await nodeA.user('bob')]
  const room = (await nodeA.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id

  // Alice's phone, on node B, reads every delivery and acknowledges none: its queue passes the cap.
  const phone = await silentSubscriber(nodeB.node.ports.mqtt, alice.token, 'phone', `chat/${room}/+`)
  t.teardown(() => phone.socket.destroy())
  t.ok(phone.state.subacked, 'the phone is subscribed on node B')
  await sleep(200) // node B counts the connection in the registry
  const bobOnA = await nodeA.mqtt(bob.token)
  const sent = 5
  for (let i = 1; i <= sent; i++) await bobOnA.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: `m${i}`, body: `message ${i}` }), { qos: 1 })
  await eventually(() => phone.state.publishes.length >= sent || phone.state.closed)
  t.same(phone.state.publishes, [1, 2, 3, 4, 5], 'every message delivered live on node B')

  let phoneGone = false
  nodeB.node.broker.aedes.on('clientDisconnect', (client) => { if (client.id === `${alice.id}:phone`) phoneGone = true })
  phone.socket.destroy()
  t.ok(await eventually(() => phoneGone), 'node B let the phone go')
  const again = nodeB.mqttConnecting(alice.token, { clientId: 'phone', clean: false })
  const resent = collect(again)
  await eventually(() => resent.length >= sent)
  await sleep(300) // for anything more to show up
  t.same(resent.map((m) => m.payload.id), [1, 2, 3, 4, 5], 'MQTT-4.4.0-1: every unacknowledged PUBLISH is resent: node A queued them all, the session being connected on node B')
  await again.endAsync()
})
