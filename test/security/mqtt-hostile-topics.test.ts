import t from 'tap'
import { packet, PINGREQ, rawAuthenticated, rawPublish, str } from './mqtt-raw.ts'
import { hostileScene } from './mqtt-scene.ts'

// Well-formed packets with hostile topics (invalid UTF-8, NUL, empty levels,
// reserved and very deep topics), sent by a member of the room over raw TCP
// while a healthy pair of clients keeps chatting. The broker may close the
// connection or acknowledge and refuse, but never stores or delivers.

t.test('hostile topics and filters are refused without disturbing anyone', async (t) => {
  const { app, alice, roomId, unharmed } = await hostileScene(t)
  const port = app.node.ports.mqtt
  const ownTopic = `chat/${roomId}/${alice.id}`
  let n = 0

  const topics: Array<[string, Buffer]> = [
    ['invalid UTF-8 at the end', Buffer.concat([Buffer.from(ownTopic), Buffer.from([0xff])])],
    ['an overlong UTF-8 "/"', Buffer.concat([Buffer.from(`chat/${roomId}`), Buffer.from([0xc0, 0xaf]), Buffer.from(alice.id)])],
    ['a lone surrogate', Buffer.concat([Buffer.from(`chat/${roomId}/`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(alice.id)])],
    ['a NUL at the end', Buffer.from(`${ownTopic}\0`)],
    ['a NUL inside the room id', Buffer.from(`chat/${roomId.slice(0, 4)}\0${roomId.slice(5)}/${alice.id}`)],
    ['an empty room level', Buffer.from(`chat//${alice.id}`)],
    ['an empty level in the middle', Buffer.from(`chat/${roomId}//${alice.id}`)],
    ['a leading /', Buffer.from(`/${ownTopic}`)],
    ['a trailing /', Buffer.from(`${ownTopic}/`)],
    ['only slashes', Buffer.from('///')],
    ['$SYS', Buffer.from('$SYS/broker/clients')],
    ['the cluster topic', Buffer.from('$mqchat/cluster')],
    ['1000 levels', Buffer.from('a/'.repeat(1000))],
  ]
  for (const [name, topic] of topics) {
    t.test(`PUBLISH to a topic with ${name}: closed or refused, never stored`, async (t) => {
      const conn = await rawAuthenticated(port, alice.token, `hostile-${n++}`)
      conn.send(Buffer.concat([rawPublish(topic, JSON.stringify({ id: `topic-${n}`, body: name })), PINGREQ]))
      const pong = await conn.answer('pingresp', 10_000)
      const acked = conn.answers.some((p) => p.cmd === 'puback')
      t.ok(pong ? acked : conn.isClosed(), pong ? 'PUBACK (a refusal in MQTT 3.1.1) and still served' : 'closed')
    })
  }

  const filters: Array<[string, Buffer]> = [
    ['a NUL', Buffer.from(`chat/${roomId}/+\0`)],
    ['invalid UTF-8', Buffer.concat([Buffer.from(`chat/${roomId}/`), Buffer.from([0xff, 0xfe])])],
    ['an empty level', Buffer.from('chat//+')],
    ['a leading /', Buffer.from(`/chat/${roomId}/+`)],
  ]
  for (const [name, filter] of filters) {
    t.test(`SUBSCRIBE to a filter with ${name}: closed or refused, never delivered`, async (t) => {
      const conn = await rawAuthenticated(port, alice.token, `hostile-${n++}`)
      conn.send(Buffer.concat([packet(0x82, Buffer.from([0, 9]), str(filter), Buffer.from([1])), PINGREQ]))
      const suback = await conn.answer('suback', 10_000) as { granted?: number[] } | undefined
      if (suback) t.same(suback.granted, [0x80], 'SUBACK 0x80 (refused)')
      else t.ok(conn.isClosed(), 'closed')
      await new Promise((resolve) => setTimeout(resolve, 300))
      t.notOk(conn.answers.some((p) => p.cmd === 'publish'), 'no chat message delivered to it (the chatter runs every 25 ms)')
    })
  }

  unharmed(t)
})
