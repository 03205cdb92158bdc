import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

// mqchat's broker (aedes 1.x) speaks MQTT 3.1 and 3.1.1. An MQTT 5 client is
// answered with CONNACK return code 1, "unacceptable protocol version", and
// the connection is closed; MQTT.js reports exactly that.
t.test('an MQTT.js client asking for MQTT 5 is refused as an unacceptable protocol version', async (t) => {
  const app = await startTestNode(t)
  const alice = await app.user('alice')
  for (const ws of [false, true]) {
    const transport = ws ? 'WebSocket' : 'TCP'
    const refusal = await app.mqtt(alice.token, { ws, protocolVersion: 5 }).then(() => undefined, (err: Error & { code?: number }) => err)
    t.equal(refusal?.code, 1, `over ${transport}: CONNACK return code 1`)
    t.match(refusal?.message, /Unacceptable protocol version/i, 'MQTT.js names the reason')
    const v311 = await app.mqtt(alice.token, { ws, protocolVersion: 4 })
    t.ok(v311.connected, `the same token over MQTT 3.1.1 and ${transport} is accepted`)
  }
})
