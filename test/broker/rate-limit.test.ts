import t from 'tap'
import { collect, sleep, startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisUrl, redisPrefix } from '../helpers/services.ts'

t.test('message rate per user: over MQTT and REST, across devices; resends still acknowledged', async (t) => {
  const app = await startTestNode(t, { MESSAGE_RATE_PER_MINUTE: '60', MESSAGE_RATE_BURST: '3' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const phone = await app.mqtt(alice.token, { clientId: 'phone' })
  const laptop = await app.mqtt(alice.token, { clientId: 'laptop' })
  await phone.subscribeAsync(`user/${alice.id}/errors`, { qos: 1 })
  const errors = collect(phone)
  const publish = (client: typeof phone, id: string) => client.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id, body: id }), { qos: 1 })

  await publish(phone, 'p1')
  await publish(laptop, 'l1')
  await publish(phone, 'p2')
  await publish(laptop, 'l2')
  const rest = await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id: 'r1', body: 'r1' } })
  t.same([rest.status, rest.body.error.code], [429, 'rate_limited'], 'REST: 429 rate_limited')
  t.match(rest.body.error.details, { clientMsgId: 'r1', retryAfterMs: Number })
  t.equal(rest.headers['retry-after'], '1', 'with Retry-After in seconds')
  await sleep(200)
  t.same(errors.map((e) => [e.payload.code, e.payload.clientMsgId]), [['rate_limited', 'l2']], 'the 4th message of the burst of 3, from the second device, is refused')
  t.ok(errors[0]!.payload.retryAfterMs > 0 && errors[0]!.payload.retryAfterMs <= 1000, 'the report says when to retry')
  t.ok(phone.connected && laptop.connected, 'refusal is recoverable: both connections stay open')

  await publish(phone, 'p1')
  await sleep(100)
  t.equal(errors.length, 1, 'a resend of a stored message while limited is acknowledged without an error')
  const stored = (await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: alice.token })).body.messages.map((m: any) => m.clientMsgId)
  t.same(stored, ['p1', 'l1', 'p2'], 'refused messages are stored nowhere; the resend is not stored twice')
  await sleep(1000)
  await publish(laptop, 'l2')
  t.same((await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: alice.token })).body.messages.map((m: any) => m.clientMsgId), ['p1', 'l1', 'p2', 'l2'], 'after a second, one more token: the retry is stored')
})

t.test('edits and deletes spend the same message budget, over REST and MQTT', async (t) => {
  const app = await startTestNode(t, { MESSAGE_RATE_PER_MINUTE: '60', MESSAGE_RATE_BURST: '3' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  t.equal((await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id: 'e1', body: 'first' } })).status, 201, 'one send')
  t.equal((await app.http('PATCH', `/v1/rooms/${roomId}/messages/1`, { token: alice.token, body: { body: 'edited' } })).status, 200, 'one edit')
  t.equal((await app.http('DELETE', `/v1/rooms/${roomId}/messages/1`, { token: alice.token })).status, 200, 'one delete: the burst of 3 is spent')
  const client = await app.mqtt(alice.token)
  await client.subscribeAsync(`user/${alice.id}/errors`, { qos: 1 })
  const errors = collect(client)
  await client.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'e2', body: 'more' }), { qos: 1 })
  await sleep(200)
  t.same(errors.map((e) => e.payload.code), ['rate_limited'], 'the next send is refused')
  await sleep(1100)
  await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id: 'e3', body: 'later' } })
  await client.publishAsync(`chat/${roomId}/events`, JSON.stringify({ type: 'edit', id: 2, body: 'again' }), { qos: 1 })
  await sleep(200)
  t.same(errors.map((e) => e.payload.code), ['rate_limited', 'rate_limited'], 'an edit over MQTT with the budget spent is refused too')
  const edit = await app.http('PATCH', `/v1/rooms/${roomId}/messages/2`, { token: alice.token, body: { body: 'again' } })
  t.same([edit.status, edit.body.error?.code], [429, 'rate_limited'], 'and over REST: 429')
})

t.test('message rate is shared by the nodes of a cluster', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  const url = redisUrl(t)
  const prefix = redisPrefix(t, url)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, MESSAGE_RATE_PER_MINUTE: '6', MESSAGE_RATE_BURST: '2' }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const [alice, bob] = [await nodeA.user('alice'), await nodeA.user('bob')]
  const roomId = (await nodeA.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const post = (node: typeof nodeA, id: string) => node.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id, body: id } })
  t.same([(await post(nodeA, 'a')).status, (await post(nodeB, 'b')).status, (await post(nodeB, 'c')).status, (await post(nodeA, 'd')).status],
    [201, 201, 429, 429], 'two tokens in all, whichever node is asked')
})

t.test('over the rate, looking for a resend\'s stored message has a budget of its own', async (t) => {
  const app = await startTestNode(t, { MESSAGE_RATE_PER_MINUTE: '6', MESSAGE_RATE_BURST: '2' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const post = (id: string) => app.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id, body: id } })
  t.same([(await post('m1')).status, (await post('m2')).status], [201, 201], 'the burst of 2 is spent on two messages')
  t.same([(await post('m1')).status, (await post('m2')).status], [200, 200], 'two resends over the rate: each looked up and answered as stored')
  const refused = await post('m1')
  t.same([refused.status, refused.body.error?.code], [429, 'rate_limited'], 'a third resend finds the look-up budget spent: refused without a query')
  t.ok(refused.body.error?.details?.retryAfterMs > 0, 'and told when to retry')

  const client = await app.mqtt(alice.token)
  await client.subscribeAsync(`user/${alice.id}/errors`, { qos: 1 })
  const errors = collect(client)
  await client.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'm2', body: 'm2' }), { qos: 1 })
  await sleep(200)
  t.same(errors.map((e) => [e.payload.code, e.payload.clientMsgId]), [['rate_limited', 'm2']], 'over MQTT the same: an error report for the resend')
  const stored = (await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: bob.token })).body.messages.map((m: any) => m.clientMsgId)
  t.same(stored, ['m1', 'm2'], 'nothing stored twice, nothing refused stored')
})
