import t from 'tap'
import { loadConfig } from '../../shared/config.ts'
import { sleep, startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisPrefix, redisUrl } from '../helpers/services.ts'
import { expectThrottled } from '../helpers/throttled.ts'

/*
 * HTTP_REQUESTS_PER_MINUTE / HTTP_REQUESTS_BURST. startTestNode relaxes them for every other test; each
 * test here sets the limit it checks, which overrides that.
 */

t.test('defaults', async (t) => {
  const config = loadConfig({})
  t.equal(config.HTTP_REQUESTS_PER_MINUTE, 600)
  t.equal(config.HTTP_REQUESTS_BURST, 300)
})

t.test('a user\'s requests with a token: refused over the burst, on every route, refilled', async (t) => {
  const app = await startTestNode(t, { HTTP_REQUESTS_BURST: '6', HTTP_REQUESTS_PER_MINUTE: '30' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const get = (path: string, token = alice.token) => app.http('GET', path, { token })
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const answered = [
    await get('/v1/users/me'), await get('/v1/rooms'), await get(`/v1/rooms/${roomId}/messages`),
    await get('/v1/push/subscriptions'),
    await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id: 'm1', body: 'hello' } }),
  ]
  t.same(answered.map((res) => res.status), [200, 200, 200, 200, 201], 'six requests (the room\'s creation among them) fill the burst of 6')

  const retryAfterMs = expectThrottled(t, await get('/v1/rooms'), 'the 7th')
  t.ok(retryAfterMs <= 2000, `one request every 2 s refills: retry in ${retryAfterMs} ms`)
  expectThrottled(t, await get('/v1/messages/search?q=hello'), 'a search')
  expectThrottled(t, await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id: 'm2', body: 'refused' } }), 'a send')
  t.equal((await get(`/v1/rooms/${roomId}/messages`, bob.token)).body.messages.length, 1, 'the refused send was not stored; bob has a bucket of his own')

  t.equal((await app.http('POST', '/v1/auth/login', { body: { username: 'alice', password: 'password-alice' } })).status, 200, 'logging in needs no token: not counted')
  t.equal((await app.http('GET', '/healthz')).status, 200, 'nor are the probes')
  const client = await app.mqtt(alice.token)
  await client.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'm3', body: 'over MQTT' }), { qos: 1 })
  t.same((await get(`/v1/rooms/${roomId}/messages`, bob.token)).body.messages.map((m: any) => m.clientMsgId), ['m1', 'm3'], 'MQTT is not REST: alice still sends there')

  // The steps above take time, during which tokens refill: spend them, then wait for exactly one more.
  let refusal = await get('/v1/rooms')
  for (let i = 0; i < 10 && refusal.status === 200; i++) refusal = await get('/v1/rooms')
  await sleep(expectThrottled(t, refusal, 'spent again') + 50)
  t.equal((await get('/v1/rooms')).status, 200, 'after the refill')
  expectThrottled(t, await get('/v1/rooms'), 'one token, one request')
})

t.test('with REDIS_URL the nodes of a cluster share the bucket', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  postgresUrl(t)
  const url = redisUrl(t)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url), HTTP_REQUESTS_BURST: '4', HTTP_REQUESTS_PER_MINUTE: '1' }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const alice = await nodeA.user('alice')
  for (let i = 1; i <= 4; i++) t.equal((await (i % 2 ? nodeA : nodeB).http('GET', '/v1/rooms', { token: alice.token })).status, 200, `request ${i} on node ${i % 2 ? 'A' : 'B'}`)
  expectThrottled(t, await nodeA.http('GET', '/v1/rooms', { token: alice.token }), 'node A, after four requests over both nodes')
  expectThrottled(t, await nodeB.http('GET', '/v1/rooms', { token: alice.token }), 'node B too')
})
