import { connect, type Socket } from 'node:net'
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { collect, eventually, sleep, startTestNode, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

// A session at the offline-queue cap whose user is online must still queue what it is delivered live: its
// PUBACK decrements the packet's count of queued sessions (in Redis), and a packet it never counted would be
// deleted while another session of the user still has it queued.
const QUEUE_MAX = 2

/** A raw MQTT client that acknowledges only when told; resolves once subscribed (or 10 s passed: see `subacked`). */
async function rawSubscriber(port: number, token: string, clientId: string, topic: string) {
  const socket: Socket = connect(port, '127.0.0.1')
  const parser = mqttPacket.parser()
  const got: Array<{ id: number; messageId: number }> = []
  let subacked = false
  socket.on('data', (d) => parser.parse(d))
  socket.on('error', () => {})
  parser.on('packet', (p: any) => {
    if (p.cmd === 'suback') subacked = true
    if (p.cmd === 'publish') got.push({ id: JSON.parse(p.payload.toString()).id, messageId: p.messageId })
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId, keepalive: 60, username: '', password: Buffer.from(token) } as any))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as any))
  await eventually(() => subacked)
  const ack = (messageId: number) => socket.write(mqttPacket.generate({ cmd: 'puback', messageId } as any))
  return { socket, got, ack, subacked }
}

/** How many PUBACKs of the session `<userId>:<clientId>` the broker has processed (Aedes emits 'ack' once the queue entry is cleared). */
function acksProcessed(app: TestNode, userId: string, clientId: string): () => number {
  let count = 0
  app.node.broker.aedes.on('ack', (_packet, client) => { if (client?.id === `${userId}:${clientId}`) count++ })
  return () => count
}

t.test('a capped session acknowledging a live delivery does not take the message out of another session\'s queue', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  const url = redisUrl(t)
  const app = await startTestNode(t, { MQTT_OFFLINE_QUEUE_MAX: String(QUEUE_MAX), REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const topic = `chat/${room}/+`
  const send = (id: string) => bobClient.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id, body: id }), { qos: 1 })

  // The tablet: a persistent session, subscribed, then offline.
  const tablet = await app.mqtt(alice.token, { clientId: 'tablet', clean: false })
  await tablet.subscribeAsync(topic, { qos: 1 })
  await tablet.endAsync()

  // The phone: connected, holding QUEUE_MAX deliveries unacknowledged (its queue is at the cap).
  const phone = await rawSubscriber(app.node.ports.mqtt, alice.token, 'phone', topic)
  t.teardown(() => phone.socket.destroy())
  t.ok(phone.subacked, 'the phone is subscribed')
  const bobClient = await app.mqtt(bob.token)
  await send('m1')
  await send('m2')
  // The tablet drains its two, so its queue is empty again.
  const tabletAcks = acksProcessed(app, alice.id, 'tablet')
  const drain = app.mqttConnecting(alice.token, { clientId: 'tablet', clean: false })
  t.ok(await eventually(() => tabletAcks() >= 2), 'the tablet drained m1 and m2')
  await drain.endAsync()

  await send('m3')
  await eventually(() => phone.got.some((m) => m.id === 3))
  const m3 = phone.got.find((m) => m.id === 3)
  t.ok(m3, 'the capped phone got m3 live')
  const phoneAcks = acksProcessed(app, alice.id, 'phone')
  if (m3) phone.ack(m3.messageId)
  t.ok(await eventually(() => phoneAcks() === 1), 'the broker processed the phone\'s PUBACK of m3')

  // Listening before CONNACK: the queue follows it at once.
  const tabletAgain = app.mqttConnecting(alice.token, { clientId: 'tablet', clean: false })
  const queued = collect(tabletAgain)
  await eventually(() => queued.length > 0)
  await sleep(300) // for anything more to show up
  t.same(queued.map((m) => m.payload.id), [3], 'the tablet, far below the cap, still has m3 queued')
  await tabletAgain.endAsync()
})
