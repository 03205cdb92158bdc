import t from 'tap'
import WebSocket from 'ws'
import mqttPacket from 'mqtt-packet'
import { startTestNode } from '../helpers/node.ts'

// Over WebSocket each MQTT packet the broker writes goes out as one frame, not one frame per chunk
// that the packet writer produced (a PUBLISH was five or six frames; over TLS, as many records).
t.test('the broker writes each packet in one WebSocket frame', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string

  const ws = new WebSocket(app.mqttUrl('ws'), 'mqtt')
  t.teardown(() => ws.terminate())
  const frames: Buffer[] = []
  const waiters: Array<() => void> = []
  ws.on('message', (data: Buffer) => {
    frames.push(data)
    waiters.splice(0).forEach((wake) => wake())
  })
  const nextFrame = async (): Promise<Buffer> => {
    const deadline = Date.now() + 5000
    while (frames.length === 0) {
      if (Date.now() > deadline) throw new Error('no frame within 5 s')
      await new Promise<void>((wake) => { waiters.push(wake); setTimeout(wake, 100) })
    }
    return frames.shift()!
  }
  /** Parses `frame`, which must hold exactly one whole packet. */
  const onePacket = (frame: Buffer) => {
    const packets: mqttPacket.Packet[] = []
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p) => packets.push(p))
    const left = parser.parse(frame)
    return { packets, left }
  }
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })

  ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'frames', keepalive: 30, username: '', password: Buffer.from(bob.token) }))
  const connack = onePacket(await nextFrame())
  t.same(connack.packets.map((p) => [p.cmd, (p as mqttPacket.IConnackPacket).returnCode]), [['connack', 0]], 'CONNACK, accepted, in one frame')

  ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `chat/${roomId}/+`, qos: 1 }] }))
  t.same(onePacket(await nextFrame()).packets.map((p) => p.cmd), ['suback'], 'SUBACK in one frame')

  const sender = await app.mqtt(alice.token)
  t.teardown(() => sender.endAsync())
  await sender.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'f1', body: 'one frame please' }), { qos: 1 })
  const delivery = onePacket(await nextFrame())
  t.same(delivery.packets.map((p) => p.cmd), ['publish'], 'the delivery is one whole PUBLISH')
  t.equal(delivery.left, 0, 'with nothing left over')
  t.match(JSON.parse(String((delivery.packets[0] as mqttPacket.IPublishPacket).payload)), { clientMsgId: 'f1', body: 'one frame please' })
})
