import { connect as tcpConnect } from 'node:net'
import t from 'tap'
import WebSocket from 'ws'
import { startTestNode } from '../helpers/node.ts'

/** Resolves when `socket` closes, with how many ms that took and whether it was before `deadlineMs`. */
function closedWithin(socket: { once(event: 'close', cb: () => void): unknown }, deadlineMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), deadlineMs)
    socket.once('close', () => { clearTimeout(timer); resolve(true) })
  })
}

t.test('MQTT_MAX_PACKET_BYTES cuts off a client that announces a larger packet, before reading it', async (t) => {
  const app = await startTestNode(t, { MQTT_MAX_PACKET_BYTES: '4096' })
  const alice = await app.user('alice')

  t.test('over TCP: a PUBLISH header announcing 200 MB closes the connection at once', async (t) => {
    const socket = tcpConnect(app.node.ports.mqtt, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise((resolve) => socket.once('connect', resolve))
    const closed = closedWithin(socket, 2000)
    // PUBLISH, remaining length 200,000,000 (0x80 0xd0 0xae 0x5f), then a first slice of body.
    socket.write(Buffer.concat([Buffer.from([0x30, 0x80, 0xd0, 0xae, 0x5f]), Buffer.alloc(64 * 1024, 1)]))
    t.ok(await closed, 'closed by the server')
  })

  t.test('over TCP: a remaining length longer than 4 bytes is refused too', async (t) => {
    const socket = tcpConnect(app.node.ports.mqtt, '127.0.0.1')
    socket.on('error', () => {})
    await new Promise((resolve) => socket.once('connect', resolve))
    const closed = closedWithin(socket, 2000)
    socket.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))
    t.ok(await closed, 'closed by the server')
  })

  t.test('over WebSocket: a frame over the limit closes the connection', async (t) => {
    const ws = new WebSocket(app.mqttUrl('ws'), 'mqtt')
    ws.on('error', () => {})
    await new Promise((resolve) => ws.once('open', resolve))
    const closed = closedWithin(ws, 2000)
    ws.send(Buffer.concat([Buffer.from([0x30, 0x80, 0x80, 0x01]), Buffer.alloc(16 * 1024, 1)]))
    t.ok(await closed, 'closed by the server')
  })

  t.test('packets under the limit still work, and others were not disturbed', async (t) => {
    const client = await app.mqtt(alice.token)
    t.same((await client.subscribeAsync(`user/${alice.id}/errors`, { qos: 1 })).map((g) => g.qos), [1])
    const bigButAllowed = JSON.stringify({ id: 'big', body: 'x'.repeat(3000) })
    t.ok(await client.publishAsync(`user/${alice.id}/errors`, bigButAllowed, { qos: 1 }), 'a 3 kB publish is read and answered')
    t.ok(client.connected)
  })
})
