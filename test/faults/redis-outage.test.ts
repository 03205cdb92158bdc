import mqtt from 'mqtt'
import t from 'tap'
import { sleep, waitUntil } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisPrefix, redisUrl } from '../helpers/services.ts'
import { hostPort, startTcpProxy, viaProxy } from '../helpers/tcp-proxy.ts'
import { catchUp, newSchema, readiness, settled, startChild, within } from './child-node.ts'
import { dropSchema, storedMessages, StubbornPublisher } from './publisher.ts'
import { verifySeen, verifyStored } from './verify.ts'

const needs = { skip: onlyWithRedis().skip || onlyWithPostgres().skip }

t.test('Redis cut off under two clustered nodes: they keep serving what they can, report it and recover', needs, async (t) => {
  const pgUrl = postgresUrl(t)
  const realRedis = redisUrl(t)
  if (!pgUrl || !process.env['REDIS_URL']) return // failed above: CI requires both services
  const proxy = await startTcpProxy(hostPort(realRedis))
  t.teardown(() => proxy.close())
  const schema = newSchema()
  t.teardown(() => dropSchema(pgUrl, schema))
  const env = { DATABASE_URL: pgUrl, DATABASE_SCHEMA: schema, REDIS_URL: viaProxy(realRedis, proxy), REDIS_KEY_PREFIX: redisPrefix(t, realRedis) }
  const nodeA = await startChild(t, env)
  const nodeB = await startChild(t, env)
  const [alice, bob] = [await nodeA.user('alice'), await nodeA.user('bob')]
  const roomId = (await nodeA.http('POST', '/v1/rooms', { type: 'direct', userId: bob.id }, alice.token)).body.room.id as string

  // Bob reads on node B; alice sends on node A: every delivery crosses Redis.
  const seen = new Set<number>()
  const bobClient = await mqtt.connectAsync(nodeB.mqttUrl, { username: '', password: bob.token, clientId: 'bob-phone', clean: false, reconnectPeriod: 300, log: () => {} })
  t.teardown(() => bobClient.endAsync(true))
  bobClient.on('error', () => {})
  bobClient.on('message', (_topic, payload) => seen.add(JSON.parse(payload.toString()).id))
  await bobClient.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  for (const node of [nodeA, nodeB]) t.equal(await readiness(node), 200, `node ${node === nodeA ? 'A' : 'B'} is ready before the outage`)

  const ids = Array.from({ length: 400 }, (_, i) => `rd-${String(i).padStart(4, '0')}`)
  let reachedCut!: () => void
  const cutPoint = new Promise<void>((resolve) => { reachedCut = resolve })
  const publisher = new StubbornPublisher({
    url: () => nodeA.mqttUrl, token: alice.token, topic: `chat/${roomId}/${alice.id}`, ids, window: 20,
    onAck: (_id, acked) => { if (acked === 150) reachedCut() },
  })
  t.teardown(() => publisher.stop())
  await cutPoint
  await waitUntil(() => seen.size >= 100, 10_000, 'cross-node delivery before the outage')
  t.pass('before the outage, messages sent on node A reach bob on node B')

  proxy.cut('refuse')
  const cutAt = Date.now()
  await waitUntil(async () => (await readiness(nodeA)) === 503 && (await readiness(nodeB)) === 503, 10_000, 'both nodes report not ready')
  t.pass(`both nodes answer /readyz 503 within ${Date.now() - cutAt} ms of the cut`)
  const readyBody = (await nodeA.http('GET', '/readyz')).body
  t.match(JSON.stringify(readyBody), /redis/i, 'the readiness answer names Redis')
  await sleep(2000)
  t.ok(nodeA.alive() && nodeB.alive(), 'both nodes are still running 2 s into the outage')
  t.ok([nodeA, nodeB].every((n) => n.proc.lines.some((line) => /redis/i.test(line) && JSON.parse(line).level >= 40)), 'both nodes log the lost Redis connection')
  const history = await nodeA.http('GET', `/v1/rooms/${roomId}/messages?limit=5`, undefined, bob.token)
  t.equal(history.status, 200, 'REST reads keep working (Postgres is fine)')
  const ackedNow = new Set(publisher.acked)
  const storedNow = new Set((await storedMessages(pgUrl, schema)).map((r) => r.client_msg_id))
  t.same([...ackedNow].filter((id) => !storedNow.has(id)).slice(0, 10), [], `every one of the ${ackedNow.size} acknowledged messages is stored`)
  t.comment(`during the outage: ${ackedNow.size} of ${ids.length} acknowledged, ${storedNow.size} stored, bob saw ${seen.size}`)

  proxy.restore()
  const restoredAt = Date.now()
  await waitUntil(async () => (await readiness(nodeA)) === 200 && (await readiness(nodeB)) === 200, 20_000, 'both nodes ready again')
  t.pass(`both nodes ready again ${Date.now() - restoredAt} ms after Redis returned`)
  await within(publisher.done, 60_000, () => `the stream to finish (stuck at ${publisher.acked.size})`)
  t.ok(nodeA.alive() && nodeB.alive(), 'neither node died')
  const rows = await storedMessages(pgUrl, schema)
  t.equal(rows.length, ids.length, 'every message stored once the client had resent')
  verifyStored(t, rows, new Set(ids), publisher.acked)

  // Cross-node delivery works again: a fresh message from node A reaches bob on node B live.
  const fresh = await mqtt.connectAsync(nodeA.mqttUrl, { username: '', password: alice.token, reconnectPeriod: 0, log: () => {} })
  t.teardown(() => fresh.endAsync(true))
  await fresh.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'after-outage', body: 'back' }), { qos: 1 })
  await waitUntil(() => seen.has(ids.length + 1), 10_000, 'live delivery across nodes after the outage')
  t.pass('after the outage a message sent on node A reaches bob on node B live again')
  // Redis pub/sub drops what is published while a node's link is down or not yet resubscribed, so live
  // delivery across the outage has holes. Numbers are consecutive per room: a client sees the hole and
  // catches up from the last number it holds without one.
  await settled(() => seen.size, 2000, 20_000)
  const live = rows.filter((r) => r.seq <= ids.length && !seen.has(r.seq)).length
  t.equal(live, 0, `live delivery across nodes lost nothing during the outage (${live} of ${ids.length} not delivered live)`, { todo: 'Redis pub/sub loses deliveries published while a link is down; clients recover them by catch-up' })
  let contiguous = 0
  while (seen.has(contiguous + 1)) contiguous++
  for (const [, messages] of await catchUp(nodeB, bob.token, { [roomId]: contiguous })) messages.forEach((m) => seen.add(m.id))
  verifySeen(t, rows, new Map([[roomId, seen]]), `bob (live, then catch-up after ${contiguous}, his last number without a hole)`)
})
