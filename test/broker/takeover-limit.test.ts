import t from 'tap'
import type { MqttClient } from 'mqtt'
import { sleep, startTestNode, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

// CONNECTIONS_PER_USER=2. A device that reconnects with its client id while the broker still holds its old
// connection (a flapping network) takes that connection over (MQTT-3.1.4-2); it must not close another device.

function watchClose(client: MqttClient): { closed: boolean } {
  const state = { closed: false }
  client.on('close', () => { state.closed = true })
  return state
}

/** The broker-side client ids `node` holds, sorted. */
function brokerClients(node: TestNode): string[] {
  return Object.keys((node.node.broker.aedes as unknown as { clients: Record<string, unknown> }).clients).sort()
}

t.test('a takeover at CONNECTIONS_PER_USER replaces the old connection of that client id, not another device', async (t) => {
  const app = await startTestNode(t, { CONNECTIONS_PER_USER: '2' })
  const alice = await app.user('alice')
  const laptop = await app.mqtt(alice.token, { clientId: 'laptop' })
  const laptopState = watchClose(laptop)
  await sleep(100) // counted in this order
  const phone = await app.mqtt(alice.token, { clientId: 'phone' })
  const phoneState = watchClose(phone)
  await sleep(100)
  const phoneAgain = await app.mqtt(alice.token, { clientId: 'phone' })
  await sleep(500) // for an eviction to land, were there one
  t.notOk(laptopState.closed, 'the laptop, another device, stays connected')
  t.ok(phoneState.closed, 'the old phone connection is closed (taken over)')
  t.ok(phoneAgain.connected, 'the new phone connection stays')
  t.same(brokerClients(app), [`${alice.id}:laptop`, `${alice.id}:phone`], 'the broker holds the laptop and the new phone')

  const tablet = await app.mqtt(alice.token, { clientId: 'tablet' })
  await sleep(500)
  t.ok(laptopState.closed, 'a third device still closes the oldest (the laptop)')
  t.ok(phoneAgain.connected && tablet.connected, 'the phone and the tablet stay')
})

t.test('a takeover across nodes at CONNECTIONS_PER_USER does not close another device', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  const url = redisUrl(t)
  const env = { CONNECTIONS_PER_USER: '2', REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const alice = await nodeA.user('alice')
  const laptop = await nodeA.mqtt(alice.token, { clientId: 'laptop' })
  const laptopState = watchClose(laptop)
  await sleep(100)
  const phone = await nodeB.mqtt(alice.token, { clientId: 'phone' })
  const phoneState = watchClose(phone)
  await sleep(200)
  // The phone comes back through node A while node B still holds its old connection.
  const phoneAgain = await nodeA.mqtt(alice.token, { clientId: 'phone' })
  await sleep(800) // for an eviction note to reach the other node, were there one
  t.notOk(laptopState.closed, 'the laptop on node A, another device, stays connected')
  t.ok(phoneState.closed, 'the old phone connection on node B is closed')
  t.ok(phoneAgain.connected, 'the new phone connection on node A stays')
  t.same(brokerClients(nodeA), [`${alice.id}:laptop`, `${alice.id}:phone`], 'node A holds the laptop and the new phone')
  t.same(brokerClients(nodeB), [], 'node B holds nothing of alice')
})
