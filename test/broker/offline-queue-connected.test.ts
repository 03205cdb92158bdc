import { connect, type Socket } from 'node:net'
import t from 'tap'
import { Redis } from 'ioredis'
import mqttPacket from 'mqtt-packet'
import { eventually, sleep, startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

// Aedes queues every QoS 1 publish for every persistent subscriber (enqueueOffline -> outgoingEnqueueCombi),
// connected or not: a connected session's unacknowledged deliveries are that same queue. The cap must leave a
// connected session alone, or the delivery of an entry it skipped breaks (outgoingUpdate).
const QUEUE_MAX = 2
const SENT = 5

const states = [
  { name: 'in memory', options: {}, redis: false },
  { name: 'in Redis', options: { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, redis: true },
]

/** A raw MQTT client that reads everything and never sends PUBACK; resolves once subscribed (or 10 s passed: see `state`). */
async function silentSubscriber(port: number, token: string, topic: string) {
  const socket: Socket = connect(port, '127.0.0.1')
  const parser = mqttPacket.parser()
  const state = { publishes: [] as number[], closed: false, connack: -1, subacked: false }
  socket.on('data', (d) => parser.parse(d))
  socket.on('close', () => { state.closed = true })
  socket.on('error', () => {})
  parser.on('packet', (p: any) => {
    if (p.cmd === 'connack') state.connack = p.returnCode
    if (p.cmd === 'suback') state.subacked = true
    if (p.cmd === 'publish') state.publishes.push(JSON.parse(p.payload.toString()).id)
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: 'phone', keepalive: 60, username: '', password: Buffer.from(token) } as any))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as any))
  await eventually(() => state.subacked || state.closed)
  return { state, socket }
}

for (const state of states) {
  t.test(`a connected persistent session with QUEUE_MAX unacknowledged deliveries (${state.name})`, state.options, async (t) => {
    const env: Record<string, string> = { MQTT_OFFLINE_QUEUE_MAX: String(QUEUE_MAX) }
    let prefix = ''
    if (state.redis) {
      const url = redisUrl(t)
      prefix = redisPrefix(t, url)
      Object.assign(env, { REDIS_URL: url, REDIS_KEY_PREFIX: prefix })
    }
    const app = await startTestNode(t, env)
    const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
    const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id

    const phone = await silentSubscriber(app.node.ports.mqtt, alice.token, `chat/${room}/+`)
    t.teardown(() => phone.socket.destroy())
    t.equal(phone.state.connack, 0, 'connected')
    t.ok(phone.state.subacked, 'subscribed')
    const bobClient = await app.mqtt(bob.token)
    for (let i = 1; i <= SENT; i++) {
      await bobClient.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: `m${i}`, body: `message ${i}` }), { qos: 1 })
    }
    await eventually(() => phone.state.publishes.length >= SENT || phone.state.closed)
    await sleep(300) // for a disconnection, or anything more, to show up
    t.same(phone.state.publishes, [1, 2, 3, 4, 5], 'every message delivered live')
    t.notOk(phone.state.closed, 'the connected subscriber is not disconnected for being QUEUE_MAX behind on PUBACKs')
    let phoneGone = false
    app.node.broker.aedes.on('clientDisconnect', (client) => { if (client.id === `${alice.id}:phone`) phoneGone = true })
    phone.socket.destroy()
    t.ok(await eventually(() => phoneGone), 'the broker let the phone go')

    // Listening before CONNACK: the resent PUBLISHes follow it at once.
    const again = app.mqttConnecting(alice.token, { clientId: 'phone', clean: false })
    const resent: number[] = []
    again.on('message', (_topic, payload) => resent.push(JSON.parse(payload.toString()).id))
    await eventually(() => resent.length >= SENT)
    await sleep(300) // for anything more to show up
    t.same(resent, [1, 2, 3, 4, 5], 'MQTT-4.4.0-1: every unacknowledged PUBLISH is resent on reconnect')
    await again.endAsync()

    if (state.redis) {
      const redis = new Redis(redisUrl(t))
      t.teardown(() => redis.quit())
      const packetKeys = () => redis.keys(`${prefix}packet:*`)
      await eventually(async () => (await packetKeys()).length === 0)
      t.same(await packetKeys(), [], 'no packet keys left once every delivery is acknowledged')
    }
  })
}
