import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { collect, distinctMessages, sleep, startTestNode, waitUntil } from '../helpers/node.ts'
import { runMain } from '../helpers/process.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisUrl, redisPrefix } from '../helpers/services.ts'

const needs = { skip: onlyWithRedis().skip || onlyWithPostgres().skip }

t.test('presence, per-user connection limit and a SIGKILLed node, across two nodes', needs, async (t) => {
  const databaseUrl = postgresUrl(t)!
  const url = redisUrl(t)
  const prefix = redisPrefix(t, url)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, PRESENCE_NODE_TTL_MS: '1000', CONNECTIONS_PER_USER: '2' }
  const nodeA = await startTestNode(t, env)
  const nodeB = runMain({ ...env, DATABASE_URL: databaseUrl, DATABASE_SCHEMA: nodeA.schema, LOG_LEVEL: 'info',
    MESSAGE_RATE_PER_MINUTE: '600000', MESSAGE_RATE_BURST: '10000', CONNECTIONS_PER_IP_PER_SECOND: '10000' })
  t.teardown(() => { nodeB.child.kill('SIGKILL') })
  const portsB = (await nodeB.started).ports
  const onB = (token: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${portsB.mqtt}`, { username: '', password: token, reconnectPeriod: 0, connectTimeout: 5000, ...opts })

  const [alice, bob, carol, dave] = [await nodeA.user('alice'), await nodeA.user('bob'), await nodeA.user('carol'), await nodeA.user('dave')]
  const roomId = (await nodeA.http('POST', '/v1/rooms', { token: bob.token, body: { type: 'group', name: 'g', memberIds: [alice.id, carol.id, dave.id] } })).body.room.id
  const bobClient = await nodeA.mqtt(bob.token)
  await bobClient.subscribeAsync(`user/${bob.id}/presence`, { qos: 1 })
  const events = collect(bobClient)
  const changes = (userId: string) => events.filter((e) => e.payload.userId === userId).map((e) => e.payload.online)
  const presenceOnB = async (userId: string) => (await (await fetch(`http://127.0.0.1:${portsB.http}/v1/users/${userId}/presence`, { headers: { authorization: `Bearer ${bob.token}` } })).json()).presence

  const alicePhone = await nodeA.mqtt(alice.token, { clientId: 'phone' })
  const aliceLaptop = await onB(alice.token, { clientId: 'laptop' })
  await aliceLaptop.endAsync()
  await waitUntil(() => changes(alice.id).length >= 1, 10_000, 'alice online')
  await sleep(300) // for an offline event to show up, were there one
  t.same(changes(alice.id), [true], 'alice online once, though her devices are on two nodes; no offline when the laptop on B leaves')
  t.equal((await presenceOnB(alice.id)).online, true, 'node B answers online: the phone is on node A')

  const daveOld = await nodeA.mqtt(dave.token, { clientId: 'old' })
  const oldClosed = new Promise<void>((resolve) => daveOld.once('close', () => resolve()))
  await onB(dave.token, { clientId: 'mid' }).then((c) => t.teardown(() => c.endAsync(true)))
  await onB(dave.token, { clientId: 'new' }).then((c) => t.teardown(() => c.endAsync(true)))
  await oldClosed
  t.pass('a third connection on node B closed the oldest, on node A (CONNECTIONS_PER_USER=2)')
  await waitUntil(() => changes(dave.id).length >= 1, 10_000, 'dave online')
  await sleep(300) // for an offline event to show up, were there one
  t.same(changes(dave.id), [true], 'dave stayed online throughout')

  const aliceTablet = await onB(alice.token, { clientId: 'tablet' })
  const carolOnB = await onB(carol.token, { clientId: 'carol-phone', clean: false })
  await carolOnB.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  await waitUntil(() => changes(carol.id).length === 1, 10_000, 'carol online')
  t.ok(aliceTablet.connected)

  nodeB.child.kill('SIGKILL')
  t.equal((await nodeB.exited).signal, 'SIGKILL', 'node B killed')
  const took = await waitUntil(() => changes(carol.id).length === 2, 10_000, 'carol offline after node B died')
  t.same(changes(carol.id), [true, false], `carol, only on node B, announced offline ${took} ms after the kill (node TTL 1000 ms)`)
  await sleep(1500)
  t.same(changes(alice.id), [true], 'alice, still on node A, was never shown offline')
  const alicePresence = (await nodeA.http('GET', `/v1/users/${alice.id}/presence`, { token: bob.token })).body.presence
  t.equal(alicePresence.online, true, 'node A answers alice online')
  const carolPresence = (await nodeA.http('GET', `/v1/users/${carol.id}/presence`, { token: bob.token })).body.presence
  t.match(carolPresence, { online: false, lastSeenAt: String }, 'carol offline, with lastSeenAt')

  for (let i = 1; i <= 3; i++) await alicePhone.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: `q${i}`, body: `while carol was away ${i}` }), { qos: 1 })
  const carolBack = mqtt.connect(nodeA.mqttUrl('tcp'), { username: '', password: carol.token, clientId: 'carol-phone', clean: false, reconnectPeriod: 0 })
  t.teardown(() => carolBack.endAsync(true))
  const queued = await distinctMessages(carolBack, 3)
  t.same(queued.map((m) => m.payload.clientMsgId), ['q1', 'q2', 'q3'], 'carol\'s session survived the node: queued messages delivered on node A')
  const stored = await nodeA.node.database.db.selectFrom('messages').select('client_msg_id').where('room_id', '=', roomId).execute()
  t.equal(stored.length, 3, 'each stored once')
})

t.test('a node taken for dead while alive counts its connections again', needs, async (t) => {
  const url = redisUrl(t)
  const prefix = redisPrefix(t, url)
  // The heartbeat refreshes the node key every third of the TTL, 5 s here; the key is deleted just after one (below).
  const NODE_TTL_MS = 15_000
  const app = await startTestNode(t, { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, PRESENCE_NODE_TTL_MS: String(NODE_TTL_MS) })
  const [alice, bob] = [await app.user('alice'), await app.user('bob')]
  await app.http('POST', '/v1/rooms', { token: bob.token, body: { type: 'direct', userId: alice.id } })
  await app.mqtt(alice.token)
  const online = async () => (await app.http('GET', `/v1/users/${alice.id}/presence`, { token: bob.token })).body.presence.online
  await waitUntil(online, 10_000, 'alice online')
  // As if the node had stalled past its TTL: its key is gone, so its connections stop counting.
  const redis = new Redis(url)
  t.teardown(() => redis.quit())
  const [nodeKey] = await redis.keys(`${prefix}presence:node:*`)
  // Right after a heartbeat (the key's TTL less than 1 s old), so the next one is at least 4 s away from the read below.
  t.ok(nodeKey, 'the node has its key')
  await waitUntil(async () => (await redis.pttl(nodeKey!)) > NODE_TTL_MS - 1000, 10_000, 'a fresh heartbeat')
  await redis.del(nodeKey!)
  t.equal(await app.node.services.presence.isOnline(alice.id), false, 'with the node key gone, alice reads offline')
  // The next heartbeat, within 5 s, counts her again.
  const took = await waitUntil(online, 15_000, 'alice counted again')
  t.pass(`the next refresh counted alice's connection again after ${took} ms`)
})
