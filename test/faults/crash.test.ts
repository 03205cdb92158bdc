import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
import t from 'tap'
import { onlyWithPostgres, postgresUrl, redisPrefix } from '../helpers/services.ts'
import { catchUp, lastWithoutHole, newSchema, settled, startChild, within, type ChildNode } from './child-node.ts'
import { dropSchema, storedMessages, StubbornPublisher } from './publisher.ts'
import { verifySeen, verifyStored } from './verify.ts'

const TOTAL = 10_000
const PUBLISHERS = 4
const KILL_AT = 5_000

t.test(`SIGKILL mid-stream of ${TOTAL} QoS 1 messages: nothing acknowledged is lost, nothing stored twice`, onlyWithPostgres(), async (t) => {
  const url = postgresUrl(t)
  if (!url) return // failed above: CI requires Postgres
  const schema = newSchema()
  t.teardown(() => dropSchema(url, schema))
  // With Redis the broker state (carol's persistent session) outlives the process; without, only the database does.
  const redisUrl = process.env['REDIS_URL']
  // Carol may be offline while thousands of messages pass: her session's queue must hold them all here.
  const env = { DATABASE_URL: url, DATABASE_SCHEMA: schema, MQTT_OFFLINE_QUEUE_MAX: String(TOTAL), ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: redisPrefix(t, redisUrl) } : {}) }
  let node: ChildNode = await startChild(t, env)

  const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => node.user(`publisher${i}`)))
  const carol = await node.user('carol')
  const rooms: string[] = []
  for (let r = 0; r < PUBLISHERS / 2; r++) {
    const members = [publishers[2 * r + 1]!.id, carol.id]
    rooms.push((await node.http('POST', '/v1/rooms', { type: 'group', name: `room ${r}`, memberIds: members }, publishers[2 * r]!.token)).body.room.id)
  }

  // Carol reads both rooms with a persistent session.
  const seen = new Map(rooms.map((id) => [id, new Set<number>()]))
  const listen = (client: MqttClient) => client.on('message', (_topic, payload) => { const m = JSON.parse(payload.toString()); seen.get(m.roomId)?.add(m.id) })
  const carolOptions = { username: '', password: carol.token, clientId: 'carol-phone', clean: false, reconnectPeriod: 0, log: () => {} }
  const carolBefore = await mqtt.connectAsync(node.mqttUrl, carolOptions)
  carolBefore.on('error', () => {})
  listen(carolBefore)
  await carolBefore.subscribeAsync(rooms.map((id) => `chat/${id}/+`), { qos: 1 })

  let killed: Promise<unknown> | undefined
  const sent = new Set<string>()
  const streams = publishers.map((p, i) => {
    const ids = Array.from({ length: TOTAL / PUBLISHERS }, (_, k) => `p${i}-${String(k).padStart(5, '0')}`)
    ids.forEach((id) => sent.add(id))
    return new StubbornPublisher({
      url: () => node.mqttUrl, token: p.token, topic: `chat/${rooms[i >> 1]}/${p.id}`, ids, window: 200,
      onAck: () => {
        if (killed || streams.reduce((n, s) => n + s.acked.size, 0) < KILL_AT) return
        node.proc.child.kill('SIGKILL')
        killed = node.proc.exited
      },
    })
  })
  t.teardown(() => Promise.all(streams.map((s) => s.stop())))
  while (!killed) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal((await node.proc.exited).signal, 'SIGKILL', 'the node was killed mid-stream')
  const ackedAtKill = streams.reduce((n, s) => n + s.acked.size, 0)
  const beforeRestart = await storedMessages(url, schema)
  t.comment(`killed with ${ackedAtKill} of ${TOTAL} acknowledged and ${beforeRestart.length} stored: the resends of the ${beforeRestart.length - ackedAtKill} stored without a PUBACK must come back as duplicates`)
  const boundary = new Map(rooms.map((id) => [id, Math.max(0, ...beforeRestart.filter((r) => r.room_id === id).map((r) => r.seq))]))

  node = await startChild(t, env)
  const carolAfter = mqtt.connect(node.mqttUrl, carolOptions)
  t.teardown(() => carolAfter.endAsync(true))
  listen(carolAfter)
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => { carolAfter.once('connect', resolve); carolAfter.once('error', reject) })
  if (!redisUrl) await carolAfter.subscribeAsync(rooms.map((id) => `chat/${id}/+`), { qos: 1 })
  else t.equal(connack.sessionPresent, true, 'carol is back on her persistent session, kept in Redis (CONNACK session present)')
  await within(Promise.all(streams.map((s) => s.done)), 90_000, () => `every publisher to finish (acknowledged: ${streams.map((s) => s.acked.size).join(', ')})`)
  t.ok(streams.every((s) => s.connections > 1), 'every publisher reconnected and resent what had no PUBACK')

  const rows = await storedMessages(url, schema)
  // Every PUBACK is in; deliveries to carol may still be on their way.
  await settled(() => [...seen.values()].reduce((n, ids) => n + ids.size, 0), 2000, 30_000)
  t.equal(rows.length, TOTAL, `all ${TOTAL} messages stored`)
  verifyStored(t, rows, sent, new Set(streams.flatMap((s) => [...s.acked])))
  const db = new pg.Client({ connectionString: url })
  await db.connect()
  const lastSeq = (await db.query(`SELECT id, last_seq::int AS last_seq FROM "${schema}".rooms`)).rows
  await db.end()
  t.same(Object.fromEntries(lastSeq.map((r) => [r.id, r.last_seq])), Object.fromEntries(rooms.map((id) => [id, rows.filter((r) => r.room_id === id).length])), 'each room\'s last_seq matches its rows (no half-written batch)')

  if (redisUrl) {
    // Messages first stored after the restart reached carol through her persistent session alone.
    const late = rows.filter((r) => r.seq > boundary.get(r.room_id)!)
    const missed = late.filter((r) => !seen.get(r.room_id)!.has(r.seq))
    if (missed.length > 0) for (const id of rooms) t.comment(`room ${id}: stored after the restart from ${boundary.get(id)! + 1}; missed ${missed.filter((r) => r.room_id === id).map((r) => r.seq).join(',').slice(0, 300)}`)
    t.same(missed.slice(0, 10).map((r) => r.client_msg_id), [], `carol's persistent session got all ${late.length} messages stored after the restart (${missed.length} missed)`)
  } else {
    t.comment('REDIS_URL unset: broker sessions live in memory and die with the node; carol relies on catch-up')
  }
  // Messages committed just before the kill were never delivered (their resends are duplicates), nor were
  // deliveries the dying node had not written yet. Numbers are consecutive per room, so carol sees the holes
  // and catches up from the last number she holds without one.
  const from = lastWithoutHole(seen)
  for (const [room, messages] of await catchUp(node, carol.token, from)) messages.forEach((m) => seen.get(room)?.add(m.id))
  verifySeen(t, rows, seen, `carol (live, then catch-up after ${Object.values(from).join(' and ')})`)
})
