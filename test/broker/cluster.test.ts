import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import t from 'tap'
import { distinctMessages, nextMessages, startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisUrl, redisPrefix } from '../helpers/services.ts'

const needs = { skip: onlyWithRedis().skip || onlyWithPostgres().skip }

t.test('two nodes on one Postgres and one Redis act as one broker', needs, async (t) => {
  postgresUrl(t)
  const url = redisUrl(t)
  const prefix = redisPrefix(t, url)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: prefix }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  t.match(nodeA.logLines.join('\n'), /clustered/, 'the log says the broker state is in Redis')
  const [alice, bob] = [await nodeA.user('alice'), await nodeA.user('bob')]
  const room = (await nodeA.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const topic = `chat/${room}/${alice.id}`
  const rows = async () => nodeA.node.database.db.selectFrom('messages').select(['seq', 'client_msg_id']).where('room_id', '=', room).orderBy('seq').execute()

  t.test('a client on node A reaches a subscriber on node B in real time', async (t) => {
    const bobOnB = await nodeB.mqtt(bob.token)
    await bobOnB.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    const got = nextMessages(bobOnB, 1)
    const aliceOnA = await nodeA.mqtt(alice.token)
    await aliceOnA.publishAsync(topic, JSON.stringify({ id: 'x-1', body: 'across nodes' }), { qos: 1 })
    const [message] = await got
    t.match(message?.payload, { id: 1, senderId: alice.id, clientMsgId: 'x-1', body: 'across nodes' })
    t.same((await rows()).map((r) => r.client_msg_id), ['x-1'], 'stored once')
  })

  t.test('a persistent session queued on node A is delivered after reconnecting to node B', async (t) => {
    const session = { clientId: `bob-phone-${randomBytes(3).toString('hex')}`, clean: false }
    const bobOnA = await nodeA.mqtt(bob.token, session)
    await bobOnA.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    await bobOnA.endAsync()
    const aliceOnB = await nodeB.mqtt(alice.token)
    for (const i of [1, 2, 3]) await aliceOnB.publishAsync(topic, JSON.stringify({ id: `offline-${i}`, body: `while away ${i}` }), { qos: 1 })
    // Listen before CONNACK: the queued messages follow it at once.
    const bobOnB = mqtt.connect(nodeB.mqttUrl('tcp'), { ...session, username: '', password: bob.token, reconnectPeriod: 0 })
    t.teardown(() => bobOnB.endAsync(true))
    const delivered = await distinctMessages(bobOnB, 3)
    t.same(delivered.map((m) => m.payload.clientMsgId), ['offline-1', 'offline-2', 'offline-3'], 'the three messages sent while away, without resubscribing')
    t.same((await rows()).map((r) => r.client_msg_id), ['x-1', 'offline-1', 'offline-2', 'offline-3'], 'each stored once')
  })
})
