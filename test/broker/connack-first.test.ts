import t, { type Test } from 'tap'
import { startTestNode } from '../helpers/node.ts'
import { onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'
import { destroyRawConnections, encode, rawConnect } from '../security/mqtt-raw.ts'

type Persistence = { delWill(client: { id: string }): Promise<unknown> }

/**
 * [MQTT-3.2.0-1]: the first packet the server sends is CONNACK. Aedes
 * restores a persistent session's subscriptions before it writes the
 * CONNACK, so a message published in that window used to go out first, and
 * MQTT.js then took none of the session's queued messages. The window is
 * held open here by pausing the will step, which Aedes runs between the two.
 */
const variants = [
  { name: 'in memory', options: {}, env: (): Record<string, string> => ({}) },
  { name: 'in Redis', options: onlyWithRedis(), env: (t: Test): Record<string, string> => { const url = redisUrl(t); return { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) } } },
]

for (const variant of variants) t.test(`sessions ${variant.name}: a message published while a persistent session reconnects comes after the CONNACK`, variant.options, async (t) => {
  t.teardown(destroyRawConnections)
  const app = await startTestNode(t, variant.env(t))
  const [alice, bob] = [await app.user('alice'), await app.user('bob')]
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const topic = `chat/${roomId}/${alice.id}`
  const session = { clientId: 'phone', clean: false }
  const bobAway = await app.mqtt(bob.token, session)
  await bobAway.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  await bobAway.endAsync()
  const aliceClient = await app.mqtt(alice.token)
  await aliceClient.publishAsync(topic, JSON.stringify({ id: 'before', body: 'sent while bob was away' }), { qos: 1 })

  const persistence = (app.node.broker.aedes as unknown as { persistence: Persistence }).persistence
  const delWill = persistence.delWill.bind(persistence)
  let reachedWillStep!: () => void
  const inWindow = new Promise<void>((resolve) => { reachedWillStep = resolve })
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  persistence.delWill = async (client) => {
    if (client.id === `${bob.id}:phone`) {
      reachedWillStep()
      await released
    }
    return delWill(client)
  }

  const raw = await rawConnect(app.node.ports.mqtt)
  raw.send(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'phone', clean: false, keepalive: 30, username: '', password: Buffer.from(bob.token) }))
  await inWindow
  await aliceClient.publishAsync(topic, JSON.stringify({ id: 'during', body: 'sent while the session was being restored' }), { qos: 1 })
  release()

  const deadline = Date.now() + 10_000
  const publishes = () => raw.answers.filter((p) => p.cmd === 'publish').map((p) => JSON.parse((p as { payload: Buffer }).payload.toString()).clientMsgId)
  const distinct = () => [...new Set(publishes())].sort()
  while (distinct().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(raw.answers[0]?.cmd, 'connack', 'the first packet bob receives is the CONNACK')
  t.match(raw.answers[0], { sessionPresent: true, returnCode: 0 }, 'with his session present')
  t.same(distinct(), ['before', 'during'], 'then both messages')
  // 'during' may also come live once the CONNACK is out (QoS 1 is at least once; PROTOCOL.md, Holes).
  t.equal(publishes().filter((id) => id === 'before').length, 1, 'the one queued before the reconnect, once')
})
