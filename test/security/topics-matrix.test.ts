import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { collect, nextMessages, sleep, startTestNode, subackCodes } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

// The topic ACL under attack (issue 8), beyond test/broker/acl.test.ts: an
// exhaustive matrix of what a logged-in outsider, Mallory, may try with a
// real MQTT.js client. Every subscription is refused (SUBACK 0x80, or the
// connection closed where Aedes itself rejects the filter), and every
// refused publish is stored nowhere and delivered to nobody. The packet limit
// is raised so that 64 KiB topics reach the ACL instead of the size guard.

const app = await startTestNode(t, { MQTT_MAX_PACKET_BYTES: '262144' })
const [alice, bob, mallory] = await Promise.all([app.user('alice'), app.user('bob'), app.user('mallory')])
const group = async (owner: { token: string }, name: string, memberIds: string[]) =>
  (await app.http('POST', '/v1/rooms', { token: owner.token, body: { type: 'group', name, memberIds } })).body.room.id as string
/** Alice and Bob's rooms, which Mallory is not in. */
const R = await group(alice, 'secret', [bob.id])
const D = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
/** Mallory's own room, with Alice. */
const M = await group(mallory, 'mallory', [alice.id])
await everyoneOnline()
const messageCount = async () => Number((await app.node.database.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)

const swapCase = (s: string) => [...s].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join('')
/** `id` with its first Latin a/e/o/c/p/x (or its first character) replaced by a Cyrillic look-alike. */
const lookAlike = (id: string) => {
  const map: Record<string, string> = { a: 'а', e: 'е', o: 'о', c: 'с', p: 'р', x: 'х', A: 'А', E: 'Е', O: 'О', C: 'С', P: 'Р', X: 'Х' }
  const i = [...id].findIndex((c) => map[c])
  return i < 0 ? `а${id.slice(1)}` : id.slice(0, i) + map[id[i]!] + id.slice(i + 1)
}
const longTopic = (prefix: string) => prefix + 'x'.repeat(65535 - Buffer.byteLength(prefix))
const deepTopic = (prefix: string) => prefix + Array(1000 - prefix.split('/').length + 1).fill('l').join('/')

/** Filters Mallory must never be granted. */
const refusedFilters = [
  // Other rooms, every shape.
  `chat/${R}/+`, `chat/${R}/events`, `chat/${R}/${alice.id}`, `chat/${R}/${bob.id}`, `chat/${R}/${mallory.id}`, `chat/${D}/+`, `chat/${D}/${alice.id}`,
  `chat/${R}/#`, `chat/${R}`, `chat/${R}/+/+`, `chat/${R}/+/#`,
  // Wildcards over rooms, her own included.
  '#', '+', '+/+', '+/+/+', '+/#', '+/+/#', 'chat/#', 'chat/+', 'chat/+/+', 'chat/+/#', 'chat/+/events', `chat/+/${alice.id}`, `chat/+/${mallory.id}`,
  `+/${R}/+`, `+/${M}/+`, `+/${M}/#`, `chat/${M}/#`, `chat/${M}/+/+`, `+/+/${mallory.id}`,
  // Other users' private streams.
  `user/${alice.id}/#`, `user/${alice.id}/+`, `user/${alice.id}/errors`, `user/${alice.id}/rooms`, `user/${alice.id}/presence`,
  'user/#', 'user/+', 'user/+/#', 'user/+/+', 'user/+/errors', `user/${alice.id}`, `+/${alice.id}/#`, `+/${mallory.id}/#`, `user/${mallory.id}/+/+`,
  // Broker and cluster internals.
  '$SYS/#', '$SYS/+', '$SYS/broker/clients/connected', '$mqchat/#', '$mqchat/+', '$mqchat/cluster', '$mqchat/discarded', '$share/g/#',
  `$share/g/chat/${R}/+`, `$share/g/chat/${M}/+`, '$queue/#', `$queue/chat/${R}/+`,
  // Empty levels and trailing slashes around her own room.
  `chat//+`, `chat/${M}/`, `chat/${M}//`, `/chat/${M}/+`, `chat/${M}/+/`, `chat//${M}/+`, '/', '//', '/#', `user/${mallory.id}/`, `user//${mallory.id}/#`,
  // Case variants.
  `Chat/${M}/+`, `CHAT/${M}/+`, `chat/${swapCase(M)}/+`, `chat/${swapCase(R)}/+`, `User/${mallory.id}/#`, `user/${swapCase(alice.id)}/#`,
  `user/${mallory.id}/ERRORS`, `chat/${M}/EVENTS`,
  // Unicode look-alikes and invisible characters.
  `сhat/${M}/+`, `ｃhat/${M}/+`, `chat/${lookAlike(M)}/+`, `chat/${lookAlike(R)}/+`, `user/${lookAlike(alice.id)}/#`, `user/${lookAlike(mallory.id)}/#`,
  `chat\u200b/${M}/+`, `chat/${M}\u200b/+`, `chat/${M}/\u202eevents`, `chat／${M}／events`, `chat/${M}/events\u00a0`, `chat/${M}/еvents`,
  // 64 KiB and 1000 levels.
  longTopic(`chat/${R}/`), longTopic(`chat/${M}/`), longTopic(`user/${mallory.id}/`), longTopic(''),
  deepTopic(`chat/${M}/`), deepTopic('+/'), deepTopic(`user/${mallory.id}/`),
]

/** SUBACK code of one filter, or 'closed' when the broker drops the connection instead. */
async function subscribeOutcome(client: MqttClient, filter: string): Promise<number | string> {
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')))
  const answered = subackCodes(client, [filter]).then((codes) => codes[0]!, (err: Error) => (client.connected ? `client error: ${err.message}` : 'closed'))
  return Promise.race([answered, closed])
}

t.test('every foreign, wildcard, internal and malformed filter is refused', async (t) => {
  let client = await app.mqtt(mallory.token)
  const got = collect(client)
  for (const filter of refusedFilters) {
    if (!client.connected) client = await app.mqtt(mallory.token)
    const outcome = await subscribeOutcome(client, filter)
    const shown = filter.length > 60 ? `${filter.slice(0, 40)}… (${filter.length} chars, ${filter.split('/').length} levels)` : filter
    // Aedes drops a filter over its 100-level limit before the ACL sees it: a refusal too.
    if (filter.split('/').length > 100) t.ok(outcome === 128 || outcome === 'closed', `${shown}: refused (${outcome})`)
    else t.equal(outcome, 128, `${shown}: SUBACK 0x80`)
  }
  if (!client.connected) client = await app.mqtt(mallory.token)
  t.same(await subackCodes(client, [`chat/${M}/+`, `user/${mallory.id}/#`]), [1, 1], 'control: her own room and user topics are granted')

  // Nothing she was refused may deliver: Alice and Bob talk in their rooms and Alice gets private events.
  const alices = await app.mqtt(alice.token)
  await alices.publishAsync(`chat/${R}/${alice.id}`, JSON.stringify({ id: 'r-1', body: 'in R' }), { qos: 1 })
  await alices.publishAsync(`chat/${D}/${alice.id}`, JSON.stringify({ id: 'd-1', body: 'in D' }), { qos: 1 })
  await alices.publishAsync(`chat/${R}/events`, JSON.stringify({ type: 'typing' }), { qos: 1 })
  const own = nextMessages(client, 1, (topic) => topic === `chat/${M}/${alice.id}`)
  await alices.publishAsync(`chat/${M}/${alice.id}`, JSON.stringify({ id: 'm-1', body: 'in M' }), { qos: 1 })
  await own
  await sleep(200)
  t.same(got.map((m) => m.topic).filter((topic) => !topic.startsWith(`chat/${M}/`) && !topic.startsWith(`user/${mallory.id}/`)), [],
    'Mallory received nothing outside her own room and user topics')
})

/**
 * Keeps Alice, Bob and Mallory connected for the whole file, once Alice has
 * heard the other two come online. A user's first connection is announced
 * to their co-members a moment after CONNACK; that announcement must not
 * land in an observer's collection as if a refused publish had got through.
 */
async function everyoneOnline() {
  const a = await app.mqtt(alice.token)
  await a.subscribeAsync(`user/${alice.id}/presence`, { qos: 1 })
  const heard = nextMessages(a, 2, (topic) => topic === `user/${alice.id}/presence`)
  await Promise.all([app.mqtt(bob.token), app.mqtt(mallory.token)])
  await heard
}

/** What Alice and Bob, subscribed to everything they may, and Mallory herself receive. */
async function observers() {
  const [a, b, m] = await Promise.all([app.mqtt(alice.token), app.mqtt(bob.token), app.mqtt(mallory.token)])
  await a.subscribeAsync([`chat/${R}/+`, `chat/${D}/+`, `chat/${M}/+`, `chat/${R}/events`, `user/${alice.id}/#`], { qos: 1 })
  await b.subscribeAsync([`chat/${R}/+`, `chat/${D}/+`, `user/${bob.id}/#`], { qos: 1 })
  await m.subscribeAsync([`chat/${M}/+`, `user/${mallory.id}/#`], { qos: 1 })
  return { alice: collectUnlessOnline(a), bob: collectUnlessOnline(b), mallory: collectUnlessOnline(m), aliceClient: a, malloryClient: m }
}

/**
 * What `client` has received so far (call the returned function), but for genuine announcements that one
 * of the three came online: should one land late despite {@link everyoneOnline}, it is no refused publish
 * getting through. (The forged presence event Mallory publishes has no `type` and says offline.)
 */
function collectUnlessOnline(client: MqttClient) {
  const got = collect(client)
  const ids = [alice.id, bob.id, mallory.id]
  const onlineAnnouncement = (m: { topic: string; payload: any }) =>
    m.topic.endsWith('/presence') && m.payload.type === 'presence' && m.payload.online === true && m.payload.lastSeenAt === null && ids.includes(m.payload.userId)
  return () => got.filter((m) => !onlineAnnouncement(m))
}

const message = (id: string) => JSON.stringify({ id, body: `forged ${id}` })
/** Topics Mallory may not publish to, with what she sends there. */
const refusedPublishes: Array<[string, string]> = [
  [`chat/${R}/${mallory.id}`, message('p1')], [`chat/${R}/${alice.id}`, message('p2')], [`chat/${R}/${bob.id}`, message('p3')],
  [`chat/${D}/${mallory.id}`, message('p4')], [`chat/${D}/${alice.id}`, message('p5')],
  [`chat/${R}/events`, JSON.stringify({ type: 'typing' })], [`chat/${R}/events`, JSON.stringify({ type: 'read', lastReadId: 1 })],
  [`chat/${R}/events`, JSON.stringify({ type: 'edit', id: 1, body: 'hijacked' })], [`chat/${R}/events`, JSON.stringify({ type: 'delete', id: 1 })],
  [`chat/${D}/events`, JSON.stringify({ type: 'typing' })],
  // Her own room, someone else's sender level.
  [`chat/${M}/${alice.id}`, message('p6')], [`chat/${M}/${bob.id}`, message('p7')], [`chat/${M}/${swapCase(mallory.id)}`, message('p8')],
  [`chat/${M}/_mqchat_sys_`, message('p8s')], [`chat/${R}/_mqchat_sys_`, message('p8t')],
  // Wrong shapes of her own topic.
  [`chat/${M}`, message('p9')], [`chat/${M}/`, message('p10')], [`chat/${M}/${mallory.id}/`, message('p11')], [`/chat/${M}/${mallory.id}`, message('p12')],
  [`chat//${mallory.id}`, message('p13')], [`chat/${M}//${mallory.id}`, message('p14')], [`chat/${M}/${mallory.id}/x`, message('p15')],
  [`Chat/${M}/${mallory.id}`, message('p16')], [`CHAT/${M}/${mallory.id}`, message('p17')], [`chat/${swapCase(M)}/${mallory.id}`, message('p18')],
  [`chat/${M}/EVENTS`, JSON.stringify({ type: 'typing' })],
  [`сhat/${M}/${mallory.id}`, message('p19')], [`ｃhat/${M}/${mallory.id}`, message('p20')], [`chat/${lookAlike(M)}/${mallory.id}`, message('p21')],
  [`chat/${M}/${lookAlike(mallory.id)}`, message('p22')], [`chat/${lookAlike(R)}/${mallory.id}`, message('p23')], [`chat\u200b/${M}/${mallory.id}`, message('p24')],
  [`chat/${M}/${mallory.id}\u200b`, message('p25')], [`chat／${M}／${mallory.id}`, message('p26')], [`chat/${M}/\u202e${mallory.id}`, message('p27')],
  // Private streams, broker and cluster internals.
  [`user/${alice.id}/errors`, JSON.stringify({ code: 'internal', message: 'forged' })], [`user/${alice.id}/rooms`, JSON.stringify({ type: 'added', room: { id: R } })],
  [`user/${alice.id}/presence`, JSON.stringify({ userId: bob.id, online: false })], [`user/${mallory.id}/errors`, message('p28')], [`user/${bob.id}`, message('p29')],
  ['$SYS/broker/clients', message('p30')], ['$mqchat/cluster', JSON.stringify({ type: 'membership', roomId: R, userId: mallory.id, added: true })],
  ['$mqchat/discarded', message('p31')], [`$share/g/chat/${M}/${mallory.id}`, message('p32')],
  // 64 KiB and 1000 levels.
  [longTopic(`chat/${R}/`), message('p33')], [longTopic(`chat/${M}/${mallory.id}`), message('p34')],
  [deepTopic(`chat/${M}/${mallory.id}/`), message('p35')], [deepTopic(`chat/${R}/`), message('p36')],
  // Wildcards, which PUBLISH may not carry at all.
  [`chat/${M}/+`, message('p37')], [`chat/${R}/#`, message('p38')], ['#', message('p39')],
]

/** 'puback' when the broker acknowledged (and dropped) it, 'closed' when it dropped the connection. */
async function publishOutcome(client: MqttClient, topic: string, payload: string, qos: 0 | 1 | 2): Promise<'puback' | 'closed'> {
  const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')))
  const acked = client.publishAsync(topic, payload, { qos }).then(() => 'puback' as const, () => 'closed' as const)
  const outcome = await Promise.race([acked, closed])
  if (qos !== 0 || outcome === 'closed') return outcome
  // QoS 0 has no acknowledgement: a SUBSCRIBE round trip, answered only once the publish before it was handled, stands in.
  const barrier = subackCodes(client, [`user/${mallory.id}/errors`]).then(() => 'puback' as const, () => 'closed' as const)
  return Promise.race([barrier, closed])
}

for (const qos of [1, 0, 2] as const) {
  t.test(`refused publishes at QoS ${qos} are stored nowhere and delivered to nobody`, async (t) => {
    const seen = await observers()
    const before = await messageCount()
    let client = await app.mqtt(mallory.token)
    const cases = qos === 1 ? refusedPublishes : refusedPublishes.filter((_, i) => i % 4 === 0)
    let acked = 0
    for (const [topic, payload] of cases) {
      if (!client.connected) client = await app.mqtt(mallory.token)
      const outcome = await publishOutcome(client, topic, payload, qos)
      const shown = topic.length > 60 ? `${topic.slice(0, 40)}… (${topic.length} chars, ${topic.split('/').length} levels)` : topic
      const aedesRefuses = /[+#]/.test(topic) || topic.split('/').length > 100
      t.equal(outcome, aedesRefuses ? 'closed' : 'puback', `${shown}: ${aedesRefuses ? 'connection closed by Aedes' : 'acknowledged and dropped'}`)
      if (outcome === 'puback') acked++
    }
    if (!client.connected) client = await app.mqtt(mallory.token)
    // Control: one permitted message, which must be stored and delivered, after every refused one.
    const isControl = (topic: string) => topic === `chat/${M}/${mallory.id}`
    const control = Promise.all([nextMessages(seen.malloryClient, 1, isControl), nextMessages(seen.aliceClient, 1, isControl)])
    await client.publishAsync(`chat/${M}/${mallory.id}`, JSON.stringify({ id: `control-${qos}`, body: 'allowed' }), { qos: 1 })
    await control
    await sleep(200)
    t.equal(await messageCount(), before + 1, 'only the control message reached the database')
    const controlOnly = [`chat/${M}/${mallory.id}`]
    t.same(seen.alice().map((m) => m.topic), controlOnly, 'Alice, subscribed to all she may, received only the control message')
    t.same(seen.bob().map((m) => m.topic), [], 'Bob received nothing')
    const reports = seen.mallory().filter((m) => m.topic === `user/${mallory.id}/errors`)
    t.same(seen.mallory().filter((m) => m.topic !== `user/${mallory.id}/errors`).map((m) => m.topic), controlOnly, 'Mallory saw only her control message')
    t.equal(reports.length, acked, 'each acknowledged refusal was reported to her, and only to her')
    t.ok(reports.every((r) => ['topic_not_allowed', 'room_not_found', 'validation_failed'].includes(r.payload.code)), 'with a refusal code')
  })
}

t.test('in a cluster, a refused publish on one node reaches nobody on the other, online or queued', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  const url = redisUrl(t)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url), MQTT_MAX_PACKET_BYTES: '262144' }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const [a, b, m] = [await nodeA.user('alice'), await nodeA.user('bob'), await nodeA.user('mallory')]
  const room = (await nodeA.http('POST', '/v1/rooms', { token: a.token, body: { type: 'group', name: 'secret', memberIds: [b.id] } })).body.room.id as string
  const own = (await nodeA.http('POST', '/v1/rooms', { token: m.token, body: { type: 'group', name: 'mallory', memberIds: [a.id] } })).body.room.id as string
  const count = async () => Number((await nodeA.node.database.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
  // Alice keeps a persistent session on node B, offline while Mallory publishes; Bob watches online on node B.
  const session = { clientId: 'alice-phone', clean: false }
  const away = await nodeB.mqtt(a.token, session)
  await away.subscribeAsync([`chat/${room}/+`, `chat/${own}/+`, `user/${a.id}/#`], { qos: 1 })
  await away.endAsync()
  const bobOnB = await nodeB.mqtt(b.token)
  await bobOnB.subscribeAsync([`chat/${room}/+`, `user/${b.id}/#`], { qos: 1 })
  const bobGot = collect(bobOnB)
  const before = await count()
  const forged: Array<[string, string]> = [
    [`chat/${room}/${m.id}`, message('c1')], [`chat/${room}/${a.id}`, message('c2')], [`chat/${room}/events`, JSON.stringify({ type: 'typing' })],
    [`chat/${own}/${a.id}`, message('c3')], [`user/${a.id}/rooms`, JSON.stringify({ type: 'added' })], [`user/${b.id}/errors`, message('c4')],
    ['$mqchat/cluster', JSON.stringify({ kind: 'user_disabled', userId: b.id, disabled: true })], [longTopic(`chat/${room}/`), message('c5')],
  ]
  const mallorysClient = await nodeA.mqtt(m.token)
  for (const [topic, payload] of forged) t.ok(await mallorysClient.publishAsync(topic, payload, { qos: 1 }), `${topic.slice(0, 40)}: acknowledged and dropped`)
  await mallorysClient.publishAsync(`chat/${own}/${m.id}`, JSON.stringify({ id: 'control', body: 'allowed' }), { qos: 1 })
  // Alice comes back: her queue must hold the control message and nothing forged.
  // Listening before CONNACK: the queued messages follow it at once.
  const back = mqtt.connect(nodeB.mqttUrl('tcp'), { ...session, username: '', password: a.token, reconnectPeriod: 0, manualConnect: true })
  const queued = nextMessages(back, 1, (topic) => topic === `chat/${own}/${m.id}`)
  const aliceGot = collect(back)
  back.connect()
  await queued
  await sleep(300)
  t.equal(await count(), before + 1, 'only the control message was stored')
  // Presence changes of people she shares a room with are the server's own, and legitimately arrive.
  const notPresence = (got: Array<{ topic: string }>) => got.map((x) => x.topic).filter((topic) => !topic.endsWith('/presence'))
  t.same(notPresence(aliceGot), [`chat/${own}/${m.id}`], 'Alice\'s queued session held only the control message')
  t.same(notPresence(bobGot), [], 'Bob on the other node received nothing')
  t.equal((await nodeB.http('GET', '/v1/users/me', { token: b.token })).status, 200, 'the forged cluster note disabled nobody')
  // Every client gone, and its disconnect handled, before the nodes close: a disconnect handled during
  // node.close() can write to Redis after the node quit it (an unhandled "Connection is closed").
  await Promise.all([back.endAsync(), bobOnB.endAsync(), mallorysClient.endAsync()])
  await sleep(500)
})
