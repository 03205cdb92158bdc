import t from 'tap'
import { collect, nextMessages, sleep, startTestNode, holdRoomLock } from '../helpers/node.ts'

t.test('acknowledged means durable', async (t) => {
  const app = await startTestNode(t)
  const db = app.node.database.db
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  const topic = `chat/${room}/${alice.id}`
  const stored = async (clientMsgId: string) => db.selectFrom('messages').selectAll().where('room_id', '=', room).where('client_msg_id', '=', clientMsgId).execute()

  t.test('no PUBACK while the commit cannot happen; PUBACK once it has', async (t) => {
    const client = await app.mqtt(alice.token)
    const lock = await holdRoomLock(app, room)
    let acked = false
    const publish = client.publishAsync(topic, JSON.stringify({ id: 'blocked-1', body: 'wait for it' }), { qos: 1 }).then(() => { acked = true })
    await sleep(500)
    t.equal(acked, false, 'no PUBACK while the row cannot be committed')
    await lock.release()
    await publish
    t.equal(acked, true, 'PUBACK after the commit')
    t.equal((await stored('blocked-1')).length, 1, 'and the row is there')
  })

  // The row check after each PUBACK has teeth on Postgres only: PGlite's single connection queues the
  // check behind any commit in flight. The lock test above guards the ordering on both.
  t.test('every PUBACK finds its row already committed, and concurrent publishes share commits', async (t) => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => app.mqtt(alice.token)))
    const writer = app.node.services.writer
    const before = { ...writer.stats }
    const count = 200
    const missing: string[] = []
    await Promise.all(Array.from({ length: count }, async (_, i) => {
      const id = `burst-${i}`
      await clients[i % clients.length]!.publishAsync(topic, JSON.stringify({ id, body: `message ${i}` }), { qos: 1 })
      if ((await stored(id)).length !== 1) missing.push(id)
    }))
    t.same(missing, [], 'each acknowledged message was in Postgres when its PUBACK arrived')
    const commits = writer.stats.commits - before.commits
    t.equal(writer.stats.messages - before.messages, count, 'every message went through the writer')
    t.ok(commits >= 1 && commits < count / 4, `group commit: ${count} messages in ${commits} transactions (largest batch ${writer.stats.largestBatch})`)
    const seqs = (await db.selectFrom('messages').select('seq').where('room_id', '=', room).orderBy('seq').execute()).map((r) => r.seq)
    t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'numbers are 1..N with no gap or repeat')
  })

  t.test('a resend with the same client id is acknowledged again but stored and delivered once', async (t) => {
    const bobClient = await app.mqtt(bob.token)
    await bobClient.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    const got = collect(bobClient)
    const payload = JSON.stringify({ id: 'resend-1', body: 'only once' })
    const first = await app.mqtt(alice.token, { clientId: 'alice-phone', clean: false })
    t.ok(await first.publishAsync(topic, payload, { qos: 1 }), 'first send acknowledged')
    t.ok(await first.publishAsync(topic, payload, { qos: 1, dup: true }), 'resend on the same connection acknowledged')
    await first.endAsync(true)
    const again = await app.mqtt(alice.token, { clientId: 'alice-phone', clean: false })
    t.ok(await again.publishAsync(topic, payload, { qos: 1, dup: true }), 'resend after reconnecting acknowledged')
    const http = await app.http('POST', `/v1/rooms/${room}/messages`, { token: alice.token, body: { id: 'resend-1', body: 'only once' } })
    t.equal(http.status, 200, 'the same id over HTTP is recognised as a resend')
    await sleep(300)
    t.equal(got.filter((m) => m.payload.clientMsgId === 'resend-1').length, 1, 'delivered once')
    t.equal((await stored('resend-1')).length, 1, 'stored once')
    t.equal(http.body.message.id, got.find((m) => m.payload.clientMsgId === 'resend-1')?.payload.id, 'the resend answers with the stored message')
  })

  t.test('a message posted over HTTP reaches MQTT subscribers through the same path', async (t) => {
    const bobClient = await app.mqtt(bob.token)
    await bobClient.subscribeAsync(`chat/${room}/+`, { qos: 1 })
    const next = nextMessages(bobClient, 1)
    const res = await app.http('POST', `/v1/rooms/${room}/messages`, { token: alice.token, body: { id: 'http-1', body: 'from REST' } })
    t.equal(res.status, 201)
    const [delivered] = await next
    t.equal(delivered?.topic, topic, 'on the sender topic')
    t.same(delivered?.payload, res.body.message, 'the same envelope as the HTTP answer')
  })
})
