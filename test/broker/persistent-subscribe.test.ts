import t from 'tap'
import { collect, eventually, sleep, startTestNode, subackCodes } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, redisUrl, redisPrefix } from '../helpers/services.ts'

const states = [
  { name: 'in memory', options: {}, redis: false },
  { name: 'in Redis', options: { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, redis: true },
]

for (const state of states) {
  t.test(`a persistent session's SUBSCRIBE of several filters, some refused (broker state ${state.name})`, state.options, async (t) => {
    const env: Record<string, string> = {}
    if (state.redis) {
      const url = redisUrl(t)
      Object.assign(env, { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url) })
    }
    const app = await startTestNode(t, env)
    const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
    const open = async (a: typeof alice, b: typeof bob) => (await app.http('POST', '/v1/rooms', { token: a.token, body: { type: 'direct', userId: b.id } })).body.room.id
    const mine = await open(alice, bob)
    const notMine = await open(bob, carol)

    const session = { clientId: 'phone', clean: false }
    let alicePhone = await app.mqtt(alice.token, session)
    const filters = [`chat/${mine}/+`, `chat/${notMine}/+`, `user/${alice.id}/#`, `chat/${mine}/events`]
    t.same(await subackCodes(alicePhone, filters), [1, 128, 1, 1], 'one SUBACK, the other room refused')
    await alicePhone.endAsync()
    const persistence = (app.node.broker.aedes as unknown as { persistence: { subscriptionsByClient(c: { id: string }): Promise<Array<{ topic: string }>> } }).persistence
    const stored = (await persistence.subscriptionsByClient({ id: `${alice.id}:phone` })).map((s) => s.topic).sort()
    t.same(stored, [`chat/${mine}/+`, `chat/${mine}/events`, `user/${alice.id}/#`].sort(), 'the session keeps only the granted filters')

    const post = (user: typeof bob, roomId: string, id: string) => app.http('POST', `/v1/rooms/${roomId}/messages`, { token: user.token, body: { id, body: id } })
    await post(bob, notMine, 'secret')
    await post(bob, mine, 'for-alice')
    // Listening before CONNACK: the queue follows it at once.
    alicePhone = app.mqttConnecting(alice.token, session)
    const got = collect(alicePhone)
    await eventually(() => got.length > 0)
    await sleep(300) // for a message of the refused room to show up, were it queued
    t.same(got.map((m) => m.payload.clientMsgId), ['for-alice'], 'the queued message of her room arrives; nothing of the refused one')
  })
}
