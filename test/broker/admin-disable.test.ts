import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { adminCommand } from '../../cli/admin.ts'
import { refusedWith, sleep, startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisPrefix, redisUrl } from '../helpers/services.ts'

const needs = { skip: onlyWithRedis().skip || onlyWithPostgres().skip }

/** Resolves when `client` closes; rejects naming `what` if it is still open after `ms`. */
function closedWithin(client: MqttClient, what: string, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms)
    client.once('close', () => { clearTimeout(timer); resolve() })
  })
}

t.test('disabling a user on node A closes their connections on node B at once', needs, async (t) => {
  postgresUrl(t)
  const url = redisUrl(t)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const [root, bob, carol] = [await nodeA.user('root'), await nodeA.user('bob'), await nodeA.user('carol')]
  await adminCommand(nodeA.node.database.db, ['grant', 'root'])
  const patch = (userId: string, body: unknown) => nodeA.http('PATCH', `/v1/admin/users/${userId}`, { token: root.token, body })

  const [bobOnB1, bobOnB2, bobOnA, carolOnB] = [await nodeB.mqtt(bob.token), await nodeB.mqtt(bob.token), await nodeA.mqtt(bob.token), await nodeB.mqtt(carol.token)]
  const stats = async () => (await nodeB.http('GET', '/v1/admin/stats', { token: root.token })).body
  let counted = await stats()
  for (let tries = 0; counted.connections.total !== 4 && tries < 60; tries++) counted = await sleep(50).then(stats)
  t.same(counted.connections.nodes.map((n: { connections: number }) => n.connections).sort(), [1, 3], 'stats, asked of node B: one connection on A, three on B')

  const closed = [closedWithin(bobOnB1, 'bob on B (1)'), closedWithin(bobOnB2, 'bob on B (2)'), closedWithin(bobOnA, 'bob on A')]
  t.equal((await patch(bob.id, { disabled: true })).status, 200, 'node A disables bob')
  await Promise.all(closed)
  t.pass('every connection of bob closed, on both nodes, within 3 s of the answer')
  await sleep(200)
  t.ok(carolOnB.connected, 'carol, on node B too, is still connected')
  t.equal(await refusedWith(nodeB.mqtt(bob.token)), 5, 'bob reconnecting to node B: CONNACK 5')
  t.equal(await refusedWith(nodeA.mqtt(bob.token)), 5, 'bob reconnecting to node A: CONNACK 5')
  t.equal((await nodeB.http('GET', '/v1/users/me', { token: bob.token })).status, 401, 'bob\'s token on node B\'s REST: 401')

  t.equal((await patch(bob.id, { disabled: false })).status, 200, 'node A enables bob again')
  t.equal((await nodeB.http('GET', '/v1/users/me', { token: bob.token })).status, 200, 'node B\'s REST accepts the token again')
  const back = await nodeB.mqtt(bob.token)
  await sleep(300)
  t.ok(back.connected, 'bob connects to node B again and stays connected (node B lifted its bar at once)')
})

t.test('a connection whose CONNECT read the account just before it was disabled is closed on sight', async (t) => {
  const app = await startTestNode(t)
  const bob = await app.user('bob')
  // As if the note had overtaken a CONNECT whose account look-up ran before the commit: the database still says enabled.
  app.node.services.presence.setDisabled(bob.id, true)
  // Not app.mqtt(): the close may come before CONNACK, and MQTT.js's connectAsync would then never settle.
  const late = mqtt.connect(app.mqttUrl('tcp'), { username: '', password: bob.token, reconnectPeriod: 0 })
  t.teardown(() => late.endAsync(true))
  await closedWithin(late, 'the late connection')
  t.pass('accepted by the database check, then closed: the node remembers whom it was told to disable')
  app.node.services.presence.setDisabled(bob.id, false)
  const back = await app.mqtt(bob.token)
  await sleep(300)
  t.ok(back.connected, 'once enabled again, a connection stays')
})
