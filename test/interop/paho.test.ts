import t from 'tap'
import { nextMessages, startTestNode, type TestNode } from '../helpers/node.ts'
import { directRoom, history, needsTool, pahoMissing, PYTHON, runTool, toolPresent, type ToolProcess } from './tools.ts'

// Python's paho-mqtt (Debian's python3-paho-mqtt), driven by paho-client.py,
// a plain paho app: user id as username, access token as password.
const MISSING = pahoMissing()
const SCRIPT = new URL('./paho-client.py', import.meta.url).pathname

/** Starts paho-client.py against `app` over `transport` with `opts` (see the script's doc). */
function paho(t: Parameters<typeof runTool>[0], app: TestNode, transport: 'tcp' | 'websockets', opts: Record<string, unknown>): ToolProcess {
  const port = transport === 'tcp' ? app.node.ports.mqtt : app.node.ports.ws
  return runTool(t, PYTHON, [SCRIPT, JSON.stringify({ host: '127.0.0.1', port, transport, path: app.config.WS_PATH, ...opts })])
}

/** One event paho-client.py printed. */
interface PahoEvent { event: string; rc?: number; topic?: string; qos?: number; payload?: any }
const events = (lines: string[]) => lines.map((l) => JSON.parse(l) as PahoEvent)

for (const transport of ['tcp', 'websockets'] as const) {
  t.test(`paho-mqtt exchanges QoS 1 messages with an MQTT.js client over ${transport === 'tcp' ? 'TCP' : 'WebSocket'}`, needsTool(MISSING), async (t) => {
    if (!toolPresent(t, MISSING)) return
    const app = await startTestNode(t)
    const { alice, bob, roomId } = await directRoom(app)
    const bobClient = await app.mqtt(bob.token, { username: bob.id, ws: transport === 'websockets' })
    await bobClient.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
    const bobGot = nextMessages(bobClient, 2, (topic) => topic.endsWith(`/${alice.id}`))

    // Alice (paho) subscribes, sends two messages, and waits for 3: her own two and Bob's.
    const payloads = ['paho-1', 'paho-2'].map((id) => JSON.stringify({ id, body: `hello from ${id}` }))
    const run = paho(t, app, transport, { username: alice.id, password: alice.token, subscribe: `chat/${roomId}/+`, publish_topic: `chat/${roomId}/${alice.id}`, publish: payloads, expect: 3 })
    const suback = JSON.parse(await run.line(/"suback"/))
    t.same(suback.granted, [1], 'paho\'s SUBSCRIBE granted QoS 1')

    const received = await bobGot
    t.same(received.map((m) => [m.payload.senderId, m.payload.clientMsgId, m.payload.body]), [
      [alice.id, 'paho-1', 'hello from paho-1'],
      [alice.id, 'paho-2', 'hello from paho-2'],
    ], 'the MQTT.js client got paho\'s messages, in order')
    await bobClient.publishAsync(`chat/${roomId}/${bob.id}`, JSON.stringify({ id: 'js-1', body: 'hello from MQTT.js' }), { qos: 1 })

    const { code, stdout } = await run.exited
    t.equal(code, 0, 'paho-client.py exited 0')
    const log = events(stdout)
    t.match(log[0], { event: 'connack', rc: 0 }, 'CONNACK 0 for the token as password')
    t.equal(log.filter((e) => e.event === 'puback').length, 2, 'both publishes acknowledged (PUBACK)')
    const messages = log.filter((e) => e.event === 'message').map((e) => ({ ...e, payload: JSON.parse(e.payload) }))
    const fromBob = messages.find((m) => m.topic === `chat/${roomId}/${bob.id}`)
    t.match(fromBob, { qos: 1, payload: { senderId: bob.id, clientMsgId: 'js-1', body: 'hello from MQTT.js' } }, 'paho got the MQTT.js client\'s message at QoS 1')
    t.same(messages.map((m) => m.qos), [1, 1, 1], 'every delivery to paho was QoS 1')

    const stored = await history(app, roomId, bob.token)
    t.same(stored.map((m) => m.clientMsgId), ['paho-1', 'paho-2', 'js-1'], 'each message stored exactly once')
  })
}

t.test('paho-mqtt gets the standard refusals', needsTool(MISSING), async (t) => {
  if (!toolPresent(t, MISSING)) return
  const app = await startTestNode(t)
  const { alice, roomId } = await directRoom(app)
  const base = { username: alice.id, subscribe: `chat/${roomId}/+`, timeout: 5 }

  const badToken = events((await paho(t, app, 'tcp', { ...base, password: 'not-a-token' }).exited).stdout)
  t.match(badToken[0], { event: 'connack', rc: 4 }, 'a bad token: CONNACK 4 (bad user name or password)')

  for (const transport of ['tcp', 'websockets'] as const) {
    const v5 = events((await paho(t, app, transport, { ...base, password: alice.token, protocol: '5' }).exited).stdout)
    // aedes answers a 3.1.1 CONNACK with return code 1; paho (like libmosquitto) reads it as reason 132.
    t.match(v5[0], { event: 'connack', rc: 132 }, `MQTT 5 over ${transport}: refused as Unsupported Protocol Version (132)`)
    t.ok(v5.some((e) => e.event === 'disconnect'), 'and the connection is closed')
  }
})
