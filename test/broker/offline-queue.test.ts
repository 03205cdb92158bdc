import t from 'tap'
import { collect, eventually, offlineQueueNode, sleep } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis } from '../helpers/services.ts'

const QUEUE_MAX = 5
const SENT = 12

const states = [
  { name: 'in memory', options: {}, redis: false },
  { name: 'in Redis', options: { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, redis: true },
]

for (const state of states) {
  t.test(`a persistent session queues at most MQTT_OFFLINE_QUEUE_MAX messages; catch-up has the rest (broker state ${state.name})`, state.options, async (t) => {
    const { app, alice, bob, room } = await offlineQueueNode(t, QUEUE_MAX, state.redis)
    const session = { clientId: 'phone', clean: false }

    let phone = await app.mqtt(alice.token, session)
    await phone.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    await phone.endAsync()

    const bobClient = await app.mqtt(bob.token)
    for (let i = 1; i <= SENT; i++) {
      await bobClient.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: `m${i}`, body: `message ${i}` }), { qos: 1 })
    }
    const stored = await app.http('GET', `/v1/rooms/${room}/messages?limit=50`, { token: alice.token })
    t.equal(stored.body.messages.length, SENT, 'every message is stored')

    // Listening before CONNACK: the queue follows it at once.
    phone = app.mqttConnecting(alice.token, session)
    const queued = collect(phone)
    await eventually(() => queued.length >= QUEUE_MAX)
    t.same(queued.map((m) => m.payload.id), [1, 2, 3, 4, 5], `the session delivers the ${QUEUE_MAX} it could hold, in order`)

    const sync = await app.http('POST', '/v1/sync', { token: alice.token, body: { rooms: { [room]: QUEUE_MAX } } })
    t.same(sync.body.rooms[room].messages.map((m: { id: number }) => m.id), [6, 7, 8, 9, 10, 11, 12], 'catch-up from the last one received has the rest')

    await bobClient.publishAsync(`chat/${room}/${bob.id}`, JSON.stringify({ id: 'live', body: 'after reconnecting' }), { qos: 1 })
    await eventually(() => queued.length > QUEUE_MAX)
    await sleep(300) // for anything more to show up
    t.same(queued.slice(QUEUE_MAX).map((m) => m.payload.clientMsgId), ['live'], 'once drained, live delivery goes on')
  })
}
