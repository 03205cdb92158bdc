import t from 'tap'
import { nextMessages, startTestNode } from '../helpers/node.ts'

for (const transport of ['tcp', 'ws'] as const) {
  t.test(`two users chat over MQTT (${transport}) and the history equals what was acknowledged`, async (t) => {
    const app = await startTestNode(t)
    const alice = await app.user('alice')
    const bob = await app.user('bob')

    const opened = await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })
    t.equal(opened.status, 201, 'direct room created')
    const roomId = opened.body.room.id
    t.same(opened.body.room.members.map((m: any) => m.id).sort(), [alice.id, bob.id].sort(), 'both are members')

    const aliceClient = await app.mqtt(alice.token, { ws: transport === 'ws', clientId: `alice-${transport}` })
    const bobClient = await app.mqtt(bob.token, { ws: transport === 'ws', clientId: `bob-${transport}` })
    const granted = await bobClient.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
    t.equal(granted[0]?.qos, 1, 'bob may subscribe to the room')

    const bobReceives = nextMessages(bobClient, 3)
    const acked = []
    for (const [i, body] of ['hi bob', 'how are you?', 'ünïcödé ✓'].entries()) {
      const packet = await aliceClient.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: `m${i}`, body }), { qos: 1 })
      t.ok(packet, `message ${i} acknowledged`)
      acked.push({ clientMsgId: `m${i}`, body })
    }
    const received = await bobReceives
    t.same(received.map((m) => m.topic), Array(3).fill(`chat/${roomId}/${alice.id}`), 'delivered on the sender topic')
    for (const { payload } of received) {
      t.match(payload, { roomId, senderId: alice.id, id: Number, createdAt: String }, 'server envelope')
    }
    t.same(received.map((m) => m.payload.id), [1, 2, 3], 'numbered 1, 2, 3 in the room')

    const history = await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: bob.token })
    t.equal(history.status, 200)
    t.same(history.body.messages.map((m: any) => ({ clientMsgId: m.clientMsgId, body: m.body })), acked, 'history is exactly what was acknowledged')
    t.same(history.body.messages, received.map((m) => m.payload), 'history equals what was delivered')
    t.equal(history.body.hasMore, false)
  })
}
