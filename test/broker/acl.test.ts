import t from 'tap'
import { collect, nextMessages, sleep, startTestNode, subackCodes } from '../helpers/node.ts'

t.test('topic ACL: only members, only their own sender topic', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob, mallory] = await Promise.all([app.user('alice'), app.user('bob'), app.user('mallory')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const malloryRoom = (await app.http('POST', '/v1/rooms', { token: mallory.token, body: { type: 'direct', userId: alice.id } })).body.room.id
  const messageCount = async () => Number((await app.node.database.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)

  t.test('subscriptions outside the user\'s rooms and own topics get SUBACK 0x80', async (t) => {
    const client = await app.mqtt(mallory.token)
    const refused = [
      `chat/${room}/+`, `chat/${room}/${alice.id}`, `chat/${room}/#`, 'chat/#', 'chat/+/+', '#', '+/+/+', '+', '$SYS/#',
      '$SYS/broker/clients', `$mqchat/discarded`, `user/${alice.id}/#`, `user/${alice.id}/errors`, 'user/+/errors', `user/${mallory.id}/+/x`,
      `chat/${room}`, `chat/${room}/+/extra`, `chat//+`, `chat/not-an-id/+`, 'a'.repeat(2000), Array(50).fill('x').join('/'),
    ]
    t.same(await subackCodes(client, refused), refused.map(() => 128), 'every filter refused with 0x80')
    t.ok(client.connected, 'and the connection stays up')
    const allowed = [`chat/${malloryRoom}/+`, `chat/${malloryRoom}/${alice.id}`, `user/${mallory.id}/#`]
    t.same(await subackCodes(client, allowed), [1, 1, 1], 'own room, one sender in it, and own user topics granted')
    t.same(await subackCodes(client, [`chat/${malloryRoom}/+`], 2), [2], 'QoS 2 is granted as asked')
    t.same(await subackCodes(client, [`chat/${malloryRoom}/+`, '#'], 1), [1, 128], 'a mixed SUBSCRIBE is answered filter by filter')
  })

  t.test('refused publishes are acknowledged, reported, delivered nowhere and stored nowhere', async (t) => {
    const before = await messageCount()
    const bobClient = await app.mqtt(bob.token)
    await bobClient.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    const bobGot = collect(bobClient)
    const client = await app.mqtt(mallory.token)
    await client.subscribeAsync(`user/${mallory.id}/errors`, { qos: 1 })
    const attempts: Array<[string, string, string]> = [
      [`chat/${room}/${mallory.id}`, JSON.stringify({ id: 'm1', body: 'not a member' }), 'room_not_found'],
      [`chat/${room}/${alice.id}`, JSON.stringify({ id: 'm2', body: 'spoofed sender' }), 'topic_not_allowed'],
      [`chat/${malloryRoom}/${alice.id}`, JSON.stringify({ id: 'm3', body: 'spoofed in own room' }), 'topic_not_allowed'],
      [`chat/${malloryRoom}`, JSON.stringify({ id: 'm4', body: 'short topic' }), 'topic_not_allowed'],
      ['$SYS/broker/x', JSON.stringify({ id: 'm5', body: 'sys' }), 'topic_not_allowed'],
      [`user/${bob.id}/errors`, JSON.stringify({ code: 'fake' }), 'topic_not_allowed'],
      [`chat/${malloryRoom}/${mallory.id}`, 'not json', 'validation_failed'],
      [`chat/${malloryRoom}/${mallory.id}`, JSON.stringify({ id: 'has space', body: 'x' }), 'validation_failed'],
      [`chat/${malloryRoom}/${mallory.id}`, JSON.stringify({ id: 'm9', body: '' }), 'validation_failed'],
      [`chat/${malloryRoom}/${mallory.id}`, JSON.stringify({ id: 'm10', body: 'x'.repeat(5000) }), 'payload_too_large'],
    ]
    const reports = nextMessages(client, attempts.length, (topic) => topic === `user/${mallory.id}/errors`)
    for (const [topic, payload] of attempts) {
      t.ok(await client.publishAsync(topic, payload, { qos: 1 }), `PUBACK for ${topic.slice(0, 40)}`)
    }
    const received = await reports
    t.same(received.map((r) => r.payload.code), attempts.map((a) => a[2]), 'each refusal reported with its catalogue code')
    t.same(received.map((r) => r.payload.topic), attempts.map((a) => a[0]), 'and the topic it was sent to')
    t.same(received.map((r) => r.payload.clientMsgId), ['m1', 'm2', 'm3', 'm4', 'm5', undefined, undefined, undefined, 'm9', 'm10'],
      'and the client message id whenever it could be read')
    t.ok(client.connected, 'the connection stays up')
    await sleep(200)
    t.same(bobGot, [], 'the room\'s member received nothing')
    t.equal(await messageCount(), before, 'nothing reached the database')
  })

  t.test('retained flags are dropped: a late subscriber gets no stored copy', async (t) => {
    const client = await app.mqtt(alice.token)
    await client.publishAsync(`chat/${room}/${alice.id}`, JSON.stringify({ id: 'r1', body: 'retained?' }), { qos: 1, retain: true })
    const late = await app.mqtt(bob.token)
    const got = collect(late)
    await late.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    await sleep(200)
    t.same(got, [], 'no retained message delivered')
  })
})
