import { readFileSync } from 'node:fs'
import { connect as tcpConnect } from 'node:net'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { selfSignedCertificate } from '../helpers/certificate.ts'
import { collect, nextMessages, sleep, startTestNode, subackCodes } from '../helpers/node.ts'

/** Resolves true when `socket` closes before `deadlineMs`, false otherwise. */
function closedWithin(socket: { once(event: 'close', cb: () => void): unknown }, deadlineMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), deadlineMs)
    socket.once('close', () => { clearTimeout(timer); resolve(true) })
  })
}

t.test('TLS listeners: MQTT over TLS and secure WebSocket, verified against the node\'s certificate', async (t) => {
  const { certFile, keyFile } = selfSignedCertificate(t)
  const app = await startTestNode(t, { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, MQTTS_PORT: '0', WSS_PORT: '0' })
  const { mqtts, wss } = app.node.ports
  t.ok(mqtts && wss, `TLS ports bound: ${mqtts}, ${wss}`)
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const ca = readFileSync(certFile)
  const secure = { ca, rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 5000, username: '' }
  const bobTls = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqtts}`, { ...secure, password: bob.token })
  const aliceWss = await mqtt.connectAsync(`wss://127.0.0.1:${wss}/mqtt`, { ...secure, password: alice.token, wsOptions: { ca } } as mqtt.IClientOptions)
  t.teardown(() => Promise.all([bobTls.endAsync(true), aliceWss.endAsync(true)]))
  await bobTls.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  const got = nextMessages(bobTls, 1)
  await aliceWss.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 's1', body: 'over TLS' }), { qos: 1 })
  t.match((await got)[0]!.payload, { body: 'over TLS', senderId: alice.id }, 'sent over wss, received over mqtts')

  const unverified = mqtt.connectAsync(`mqtts://127.0.0.1:${mqtts}`, { rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 3000, username: '', password: bob.token })
  await t.rejects(unverified, /self[- ]signed|unable to verify/i, 'a client that does not trust the certificate refuses it')
})

t.test('CONNECTIONS_PER_IP_PER_SECOND closes the excess sockets before reading them', async (t) => {
  const app = await startTestNode(t, { CONNECTIONS_PER_IP_PER_SECOND: '3' })
  const alice = await app.user('alice')
  const attempt = () => mqtt.connectAsync(app.mqttUrl('tcp'), { username: '', password: alice.token, reconnectPeriod: 0, connectTimeout: 2000 })
    .then((client) => { t.teardown(() => client.endAsync(true)); return 'connected' }, () => 'refused')
  const burst = await Promise.all([attempt(), attempt(), attempt(), attempt(), attempt()])
  t.same(burst.sort(), ['connected', 'connected', 'connected', 'refused', 'refused'], 'three of five in one instant')
  await sleep(400)
  t.equal(await attempt(), 'connected', 'a token back after 1/3 s')
  t.match(app.logLines.join('\n'), /over CONNECTIONS_PER_IP_PER_SECOND/, 'refusals are logged')
})

t.test('MQTT_CONNECT_TIMEOUT_MS closes a connection that never sends CONNECT, on every listener', async (t) => {
  const { certFile, keyFile } = selfSignedCertificate(t)
  const app = await startTestNode(t, { MQTT_CONNECT_TIMEOUT_MS: '300', TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, MQTTS_PORT: '0', WSS_PORT: '0' })
  const { mqtt: tcp, ws, mqtts, wss } = app.node.ports
  const silent = async (port: number, send?: string) => {
    const socket = tcpConnect(port, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise((resolve) => socket.once('connect', resolve))
    if (send) socket.write(send)
    return closedWithin(socket, 5000)
  }
  t.ok(await silent(tcp), 'MQTT over TCP: the silent connection is closed by the server')
  t.ok(await silent(mqtts!), 'MQTT over TLS: a connection that never starts the handshake is closed')
  t.ok(await silent(wss!), 'secure WebSocket: a connection that never starts the handshake is closed')
  t.ok(await silent(ws), 'WebSocket: a connection that never sends its upgrade request is closed')
  t.ok(await silent(ws, 'GET /mqtt HTTP/1.1\r\nHost: x\r\n'), 'WebSocket: a connection that never finishes its upgrade request is closed')
})

t.test('MQTT_MAX_SUBSCRIPTIONS per connection: refused with 0x80 and reported; unsubscribing frees a place', async (t) => {
  const app = await startTestNode(t, { MQTT_MAX_SUBSCRIPTIONS: '3' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const client = await app.mqtt(alice.token)
  t.same(await subackCodes(client, [`user/${alice.id}/errors`]), [1])
  const errors = collect(client)
  const filters = [`chat/${roomId}/+`, `chat/${roomId}/events`, `chat/${roomId}/${bob.id}`]
  t.same(await subackCodes(client, filters), [1, 1, 128], 'three filters in all: the third of this packet is refused')
  t.same(await subackCodes(client, [`chat/${roomId}/+`]), [1], 're-subscribing to a held filter still fits')
  await sleep(100)
  t.same(errors.map((e) => e.payload.code), ['too_many_subscriptions'], 'the refusal is reported with its reason')
  await client.unsubscribeAsync(`chat/${roomId}/events`)
  t.same(await subackCodes(client, [`chat/${roomId}/${bob.id}`]), [1], 'after an unsubscribe there is room again')
  t.ok(client.connected)
})

t.test('a subscriber that stops reading is cut off after MQTT_DRAIN_TIMEOUT_MS and does not stall the others', async (t) => {
  const app = await startTestNode(t, { MQTT_DRAIN_TIMEOUT_MS: '500', MESSAGE_MAX_BYTES: '50000' })
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds: [bob.id, carol.id] } })).body.room.id

  // Bob's client subscribes and then never reads again.
  const slow = tcpConnect(app.node.ports.mqtt, '127.0.0.1')
  slow.on('error', () => {})
  await new Promise((resolve) => slow.once('connect', resolve))
  slow.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'slow', keepalive: 0, username: '', password: Buffer.from(bob.token) }))
  slow.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `chat/${roomId}/+`, qos: 0 }] }))
  await sleep(300)
  slow.pause()

  const carolClient = await app.mqtt(carol.token)
  await carolClient.subscribeAsync(`chat/${roomId}/+`, { qos: 0 })
  // 20 MB: more than the loopback socket buffers of both ends can absorb.
  const total = 400
  const carolGets = nextMessages(carolClient, total)
  const aliceClient = await app.mqtt(alice.token)
  const body = 'x'.repeat(50_000)
  await Promise.all(Array.from({ length: total }, (_, i) => aliceClient.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: `m${i}`, body }), { qos: 1 })))
  t.equal((await carolGets).length, total, `carol received all ${total} messages (${(total * 50) / 1000} MB) while bob read nothing`)
  await sleep(1000)
  t.notOk(Object.keys((app.node.broker.aedes as unknown as { clients: object }).clients).includes(`${bob.id}:slow`), 'the node has dropped the frozen subscriber')
  // A paused socket notices the close only once it reads what was buffered before it.
  const slowClosed = closedWithin(slow, 5000)
  slow.resume()
  t.ok(await slowClosed, 'and its socket was closed by the server')
  t.ok(carolClient.connected, 'carol is still connected')
})

t.test('CONNECTIONS_PER_USER: a further connection is accepted and the oldest is closed', async (t) => {
  const app = await startTestNode(t, { CONNECTIONS_PER_USER: '2' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const first = await app.mqtt(alice.token, { clientId: 'first' })
  const firstClosed = closedWithin(first, 5000)
  const second = await app.mqtt(alice.token, { clientId: 'second' })
  const bobClient = await app.mqtt(bob.token, { clientId: 'first' })
  t.ok(first.connected && second.connected && bobClient.connected, 'two connections: within the limit; another user counts apart')
  const third = await app.mqtt(alice.token, { clientId: 'third' })
  t.ok(await firstClosed, 'the third closes the oldest')
  await sleep(200)
  t.ok(second.connected && third.connected && bobClient.connected, 'the others stay')
  t.match(app.logLines.join('\n'), /over CONNECTIONS_PER_USER/, 'logged')
})
