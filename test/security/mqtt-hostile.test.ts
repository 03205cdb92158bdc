import { once } from 'node:events'
import t from 'tap'
import WebSocket from 'ws'
import { connectPacket, encode, packet, PINGREQ, rawAuthenticated, rawConnect, rawConnectPacket, rawPublish, str, within, type RawConnection } from './mqtt-raw.ts'
import { hostileScene } from './mqtt-scene.ts'

// Hand-written malformed MQTT over raw TCP sockets, while a healthy pair of
// clients keeps chatting. Each bad connection must be closed, or get the
// protocol's answer (a refusal); nothing it sends may be stored or delivered.
// Odd topics and filters: mqtt-hostile-topics.test.ts; generated cases: mqtt-fuzz.test.ts.

const accepted = (conn: RawConnection) => conn.answers.some((p) => p.cmd === 'connack' && (p as { returnCode: number }).returnCode === 0)
const answered = (conn: RawConnection) => conn.answers.map((p) => (p.cmd === 'connack' ? `connack ${(p as { returnCode: number }).returnCode}` : p.cmd))

t.test('malformed MQTT is closed or refused without disturbing anyone', async (t) => {
  const { app, alice, roomId, unharmed } = await hostileScene(t)
  const port = app.node.ports.mqtt
  const ownTopic = `chat/${roomId}/${alice.id}`
  const message = (id: string) => JSON.stringify({ id, body: `hostile ${id}` })
  const noise = (seed: number) => Buffer.from(Array.from({ length: 512 }, (_, i) => (i * seed + 13) & 0xff))
  const v5Connect = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'v5', clean: true, keepalive: 30, username: '', password: Buffer.from(alice.token) }, 5)
  let n = 0

  const beforeConnect: Array<[string, Buffer, { end?: boolean; answer?: number }?]> = [
    ['random bytes', noise(7919)],
    ['a remaining length of 5 bytes', Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])],
    ['a remaining length of 256 MB', Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f])],
    ['a PUBLISH before CONNECT', encode({ cmd: 'publish', topic: ownTopic, payload: message('before-connect'), qos: 1, messageId: 1, retain: false, dup: false })],
    ['a SUBSCRIBE before CONNECT', encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `chat/${roomId}/+`, qos: 1 }] })],
    ['a PINGREQ before CONNECT', PINGREQ],
    ['reserved packet type 0', Buffer.from([0x00, 0x00])],
    ['reserved packet type 15', Buffer.from([0xf0, 0x00])],
    ['protocol level 2', rawConnectPacket({ level: 2, username: '', password: alice.token })],
    ['protocol level 6', rawConnectPacket({ level: 6, username: '', password: alice.token })],
    ['protocol level 255', rawConnectPacket({ level: 255, username: '', password: alice.token })],
    ['protocol name MQTX', rawConnectPacket({ name: 'MQTX', username: '', password: alice.token })],
    ['an MQTT 5 CONNECT (refused with CONNACK 1)', v5Connect, { answer: 1 }],
    ['the reserved CONNECT flag set', rawConnectPacket({ flags: 0xc3, username: '', password: alice.token })],
    ['a password without a username (refused with CONNACK 4)', rawConnectPacket({ password: alice.token }), { answer: 4 }],
    ['a CONNECT whose strings overrun the packet', Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0xc2, 0x00, 0x1e, 0xff, 0xff])],
    ['a truncated CONNECT, then end of stream', connectPacket(alice.token, 'truncated').subarray(0, 20), { end: true }],
    ['half-open: a truncated CONNECT, then silence', connectPacket(alice.token, 'half-open').subarray(0, 20)],
    ['half-open: nothing at all', Buffer.alloc(0)],
  ]
  for (const [name, bytes, opts = {}] of beforeConnect) {
    t.test(`before CONNECT: ${name}`, async (t) => {
      const conn = await rawConnect(port)
      conn.send(bytes)
      if (opts.end) conn.socket.end()
      t.ok(await conn.closedWithin(10_000), 'the server closed the connection')
      t.notOk(accepted(conn), 'no CONNACK 0')
      t.same(answered(conn), opts.answer === undefined ? [] : [`connack ${opts.answer}`], `answered ${JSON.stringify(answered(conn))}`)
      t.notOk(conn.garbage, 'in well-formed MQTT')
    })
  }

  const afterConnect: Array<[string, Buffer]> = [
    ['a second CONNECT', connectPacket(alice.token, 'second')],
    ['a remaining length of 5 bytes', Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])],
    ['a PUBLISH with QoS 3', Buffer.concat([Buffer.from([0x36]), rawPublish(Buffer.from(ownTopic), message('qos3')).subarray(1)])],
    ['a PUBLISH whose topic length overruns the packet', packet(0x32, Buffer.from([0x7f, 0xff]), Buffer.from('chat'))],
    ['a PUBLISH with an empty topic', rawPublish(Buffer.alloc(0), message('empty-topic'))],
    ['a PUBLISH to a wildcard topic', rawPublish(Buffer.from(`chat/${roomId}/#`), message('wildcard'))],
    ['a PUBLISH to a + topic', rawPublish(Buffer.from(`chat/+/${alice.id}`), message('plus'))],
    ['a SUBSCRIBE with reserved header flags 0', packet(0x80, Buffer.from([0, 1]), str(`chat/${roomId}/+`), Buffer.from([1]))],
    ['a SUBSCRIBE with no filter', packet(0x82, Buffer.from([0, 1]))],
    ['a SUBSCRIBE asking for QoS 3', packet(0x82, Buffer.from([0, 1]), str(`chat/${roomId}/+`), Buffer.from([3]))],
    ['a SUBSCRIBE to an empty filter', packet(0x82, Buffer.from([0, 1]), str(''), Buffer.from([1]))],
    ['a CONNACK from the client', Buffer.from([0x20, 0x02, 0x00, 0x00])],
    ['a SUBACK from the client', Buffer.from([0x90, 0x03, 0x00, 0x01, 0x01])],
    ['reserved packet type 15', Buffer.from([0xf0, 0x00])],
    ['random bytes', noise(104729)],
  ]
  for (const [name, bytes] of afterConnect) {
    t.test(`after CONNECT: ${name}`, async (t) => {
      const conn = await rawAuthenticated(port, alice.token, `hostile-${n++}`)
      conn.send(Buffer.concat([bytes, PINGREQ]))
      t.ok(await conn.closedWithin(10_000), 'the server closed the connection')
      t.same(answered(conn), ['connack 0'], 'and answered nothing but the CONNACK')
    })
  }

  t.test('after CONNECT: an UNSUBSCRIBE with no filter is closed, or answered and harmless', async (t) => {
    // MQTT 3.1.1 section 3.10.3 calls it a protocol violation; aedes answers UNSUBACK instead of closing.
    const conn = await rawAuthenticated(port, alice.token, `hostile-${n++}`)
    conn.send(Buffer.concat([packet(0xa2, Buffer.from([0, 1])), PINGREQ]))
    const pong = await conn.answer('pingresp', 10_000)
    t.ok(conn.isClosed() || (pong && answered(conn).join() === 'connack 0,unsuback,pingresp'), `closed, or UNSUBACK: ${answered(conn)}`)
  })

  t.test('after CONNECT: a truncated packet, then silence, ends at the keepalive', async (t) => {
    const conn = await rawAuthenticated(port, alice.token, `hostile-${n++}`, 1)
    conn.send(rawPublish(Buffer.from(ownTopic), message('truncated')).subarray(0, 12))
    t.ok(await conn.closedWithin(10_000), 'closed (keepalive 1 s: by 1.5 s of silence)')
  })

  const publishFirst = encode({ cmd: 'publish', topic: ownTopic, payload: message('ws-before-connect'), qos: 1, messageId: 1, retain: false, dup: false })
  const wsCases: Array<[string, Buffer[]]> = [
    ['random bytes', [noise(31)]],
    ['a PUBLISH before CONNECT', [publishFirst]],
    ['a remaining length of 5 bytes', [Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f])]],
    ['half-open: a CONNECT split over two frames, the second never sent', [connectPacket(alice.token, 'ws-half').subarray(0, 9)]],
    ['half-open: nothing at all', []],
  ]
  for (const [name, frames] of wsCases) {
    t.test(`over WebSocket: ${name}`, async (t) => {
      const ws = new WebSocket(app.mqttUrl('ws'), 'mqtt')
      ws.on('error', () => {})
      const got: Buffer[] = []
      ws.on('message', (data: Buffer) => got.push(data))
      await once(ws, 'open')
      const closed = once(ws, 'close').then(() => true)
      for (const frame of frames) ws.send(frame)
      t.ok(await within(closed, 10_000, false), 'the server closed the connection')
      t.same(got, [], 'without answering')
    })
  }

  unharmed(t)
})
