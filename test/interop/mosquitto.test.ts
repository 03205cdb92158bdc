import t from 'tap'
import { nextMessages, startTestNode } from '../helpers/node.ts'
import { directRoom, history, mosquittoMissing, needsTool, runTool, toolPresent } from './tools.ts'

// The Mosquitto command-line clients (C, libmosquitto), used unchanged with the
// user id as username and the access token as password. They have no
// WebSocket transport of their own (Debian's 2.0 build has none), so they are
// tested over TCP; paho-mqtt covers WebSocket.
const MISSING = mosquittoMissing()
const PUB = '/usr/bin/mosquitto_pub'
const SUB = '/usr/bin/mosquitto_sub'

t.test('mosquitto_pub and mosquitto_sub exchange QoS 1 messages with an MQTT.js client', needsTool(MISSING), async (t) => {
  if (!toolPresent(t, MISSING)) return
  const app = await startTestNode(t)
  const { alice, bob, roomId } = await directRoom(app)
  const server = ['-h', '127.0.0.1', '-p', String(app.node.ports.mqtt)]
  const asAlice = [...server, '-u', alice.id, '-P', alice.token]
  const bobClient = await app.mqtt(bob.token, { username: bob.id })
  await bobClient.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })

  // Alice listens with mosquitto_sub (debug output shows the QoS of each delivery) until 3 messages came.
  // Its output to a pipe is block-buffered, so the broker tells when it has subscribed.
  const subscribed = new Promise<void>((resolve) => app.node.broker.aedes.on('subscribe', (_subs, client) => {
    if (client.id.endsWith(':alice-sub')) resolve()
  }))
  const sub = runTool(t, SUB, [...asAlice, '-i', 'alice-sub', '-q', '1', '-t', `chat/${roomId}/+`, '-v', '-d', '-C', '3', '-W', '40'], 45_000)
  await subscribed

  const bobGot = nextMessages(bobClient, 2)
  for (const id of ['mosq-1', 'mosq-2']) {
    const pub = runTool(t, PUB, [...asAlice, '-i', `alice-${id}`, '-q', '1', '-d', '-t', `chat/${roomId}/${alice.id}`, '-m', JSON.stringify({ id, body: `hello from ${id}` })])
    const { code, stdout } = await pub.exited
    t.equal(code, 0, `mosquitto_pub ${id} exited 0`)
    t.match(stdout.join('\n'), /received PUBACK/, `${id} was acknowledged (QoS 1 PUBACK)`)
  }
  const received = await bobGot
  t.same(received.map((m) => [m.topic, m.payload.senderId, m.payload.clientMsgId, m.payload.body]), [
    [`chat/${roomId}/${alice.id}`, alice.id, 'mosq-1', 'hello from mosq-1'],
    [`chat/${roomId}/${alice.id}`, alice.id, 'mosq-2', 'hello from mosq-2'],
  ], 'the MQTT.js client got both envelopes, in order')
  t.same(received.map((m) => m.payload.id), [1, 2], 'numbered 1 and 2 in the room')

  await bobClient.publishAsync(`chat/${roomId}/${bob.id}`, JSON.stringify({ id: 'js-1', body: 'hello from MQTT.js' }), { qos: 1 })
  const { code, stdout } = await sub.exited
  t.equal(code, 0, 'mosquitto_sub exited 0 after its 3 messages', { stdout })
  const deliveries = stdout.filter((l) => l.startsWith('chat/'))
  const fromBob = deliveries.find((l) => l.startsWith(`chat/${roomId}/${bob.id} `))
  t.ok(fromBob, 'mosquitto_sub printed the MQTT.js client\'s message')
  t.match(JSON.parse(fromBob!.slice(fromBob!.indexOf(' ') + 1)), { senderId: bob.id, clientMsgId: 'js-1', body: 'hello from MQTT.js', id: 3 }, 'as the stored envelope, numbered 3')
  const qos = stdout.filter((l) => /received PUBLISH/.test(l)).map((l) => /q(\d)/.exec(l)![1])
  t.same(qos, ['1', '1', '1'], 'every delivery to mosquitto_sub was QoS 1')

  const stored = await history(app, roomId, bob.token)
  t.same(stored.map((m) => m.clientMsgId), ['mosq-1', 'mosq-2', 'js-1'], 'each message stored exactly once')
})

t.test('mosquitto clients get the standard refusals', needsTool(MISSING), async (t) => {
  if (!toolPresent(t, MISSING)) return
  const app = await startTestNode(t)
  const { alice, roomId } = await directRoom(app)
  const server = ['-h', '127.0.0.1', '-p', String(app.node.ports.mqtt)]
  const message = ['-q', '1', '-t', `chat/${roomId}/${alice.id}`, '-m', '{"id":"x","body":"x"}']

  const badToken = await runTool(t, PUB, [...server, '-u', alice.id, '-P', 'not-a-token', ...message]).exited
  t.not(badToken.code, 0, 'a bad token: mosquitto_pub fails')
  t.match(badToken.stderr, /Connection Refused: bad user name or password/, 'with CONNACK 4, bad user name or password')

  const v5 = await runTool(t, PUB, [...server, '-V', 'mqttv5', '-u', alice.id, '-P', alice.token, ...message]).exited
  t.not(v5.code, 0, 'MQTT 5: mosquitto_pub fails')
  t.match(v5.stderr, /Unsupported Protocol Version/, 'and says the protocol version is unsupported')

  const v31 = await runTool(t, PUB, [...server, '-V', 'mqttv31', '-i', 'v31', '-u', alice.id, '-P', alice.token, '-q', '1', '-t', `chat/${roomId}/${alice.id}`, '-m', '{"id":"v31","body":"MQTT 3.1"}']).exited
  t.equal(v31.code, 0, 'MQTT 3.1 (-V mqttv31) is accepted')
  t.same((await history(app, roomId, alice.token)).map((m) => m.clientMsgId), ['v31'], 'only the accepted publish was stored')
})
