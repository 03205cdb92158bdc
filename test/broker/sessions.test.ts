import mqtt from 'mqtt'
import t from 'tap'
import { collect, nextMessages, sleep, startTestNode, holdRoomLock } from '../helpers/node.ts'

t.test('sessions belong to their user, and delivery does not wait on the sender', async (t) => {
  const app = await startTestNode(t)
  const db = app.node.database.db
  const [alice, bob, mallory] = await Promise.all([app.user('alice'), app.user('bob'), app.user('mallory')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id

  t.test('reusing another user\'s client id neither drains their offline queue nor takes over their connection', async (t) => {
    const aliceAway = await app.mqtt(alice.token, { clientId: 'phone', clean: false })
    await aliceAway.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    await aliceAway.endAsync()
    const bobClient = await app.mqtt(bob.token)
    await bobClient.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: 'secret-1', body: 'alice, the code is 1234' }), { qos: 1 })

    const thief = mqtt.connect(app.mqttUrl('tcp'), { clientId: 'phone', clean: false, username: '', password: mallory.token, reconnectPeriod: 0 })
    t.teardown(() => thief.endAsync(true))
    const stolen = collect(thief)
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => thief.once('connect', resolve))
    t.equal(connack.sessionPresent, false, 'mallory gets a fresh session of her own')
    await sleep(300)
    t.same(stolen, [], 'and none of alice\'s queued messages')

    const aliceOnline = await app.mqtt(alice.token, { clientId: 'phone', clean: false })
    t.ok(aliceOnline.connected, 'alice reconnects to her session')
    const other = await app.mqtt(mallory.token, { clientId: 'phone', clean: false })
    t.ok(other.connected, 'mallory connects with the same client id again')
    await sleep(200)
    t.ok(aliceOnline.connected, 'and alice is not kicked off')
  })

  // The room's row lock is held so the commit waits; on PGlite the whole (single) connection waits,
  // so every client connects before the lock is taken.
  t.test('a message committed after its sender vanished is still delivered, and its resend is not delivered twice', async (t) => {
    const bobClient = await app.mqtt(bob.token)
    await bobClient.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    const got = collect(bobClient)
    const sender = await app.mqtt(alice.token, { clientId: 'laptop', clean: false })
    const lock = await holdRoomLock(app, room)
    sender.publish(`chat/${room}/${alice.id}`, JSON.stringify({ id: 'gone-1', body: 'sent, then the network died' }), { qos: 1 })
    await sleep(200)
    sender.stream.destroy()
    await lock.release()
    const [delivered] = await nextMessages(bobClient, 1)
    t.equal(delivered?.payload.clientMsgId, 'gone-1', 'bob receives the message although alice never got her PUBACK')

    const again = await app.mqtt(alice.token, { clientId: 'laptop', clean: false })
    t.ok(await again.publishAsync(`chat/${room}/${alice.id}`, JSON.stringify({ id: 'gone-1', body: 'sent, then the network died' }), { qos: 1 }), 'the resend is acknowledged')
    await sleep(300)
    t.equal(got.filter((m) => m.payload.clientMsgId === 'gone-1').length, 1, 'and delivered once in all')
    const rows = await db.selectFrom('messages').select('seq').where('client_msg_id', '=', 'gone-1').execute()
    t.equal(rows.length, 1, 'stored once')
  })
})
