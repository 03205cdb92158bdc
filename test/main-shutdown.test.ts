import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
import t, { type Test } from 'tap'
import { runMain } from './helpers/process.ts'
import { postgresUrl, redisPrefix } from './helpers/services.ts'

const WINDOW = 20
const SIGTERM_AFTER_ACKS = 150
const MAX_PER_CLIENT = 5000

/** Where the node keeps its data, and how the test reads the stored client message ids once it has exited. */
function database(t: Test): { env: Record<string, string>; storedIds(): Promise<string[]> } {
  const url = postgresUrl(t)
  if (url) {
    const schema = `t_shutdown_${randomBytes(4).toString('hex')}`
    const query = async <T>(text: string): Promise<T[]> => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try { return (await client.query(text)).rows } finally { await client.end() }
    }
    t.teardown(() => query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
    return { env: { DATABASE_URL: url, DATABASE_SCHEMA: schema }, storedIds: async () => (await query<{ id: string }>(`SELECT client_msg_id AS id FROM "${schema}".messages`)).map((r) => r.id) }
  }
  const dir = mkdtempSync(join(tmpdir(), 'mqchat-shutdown-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return {
    env: { DATA_DIR: dir },
    async storedIds() {
      const db = await PGlite.create({ dataDir: `${dir}/pglite` })
      try { return (await db.query<{ id: string }>('SELECT client_msg_id AS id FROM messages')).rows.map((r) => r.id) } finally { await db.close() }
    },
  }
}

/**
 * Streams QoS 1 messages with up to {@link WINDOW} awaiting their PUBACK,
 * until the connection closes. `acked` holds exactly the ids that got one.
 */
function stream(client: MqttClient, topic: string, prefix: string, onAck: () => void) {
  const acked = new Set<string>()
  const sent = new Set<string>()
  let next = 0
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
  const sendOne = (): void => {
    if (client.disconnected || client.disconnecting || !client.connected || next >= MAX_PER_CLIENT) return
    const id = `${prefix}-${String(next++).padStart(5, '0')}`
    sent.add(id)
    client.publishAsync(topic, JSON.stringify({ id, body: `body of ${id}` }), { qos: 1 }).then(() => {
      acked.add(id)
      onAck()
      sendOne()
    }, () => {})
  }
  for (let i = 0; i < WINDOW; i++) sendOne()
  return { acked, sent, closed }
}

t.test('SIGTERM mid-stream: every acknowledged message is stored exactly once, and clients are closed', async (t) => {
  const store = database(t)
  // Clustered when Redis is there: the rate limiter, broker state and presence then live in Redis too.
  const redisUrl = process.env['REDIS_URL']
  const redis = redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: redisPrefix(t, redisUrl) } : {}
  const run = runMain({ ...store.env, ...redis, MESSAGE_RATE_PER_MINUTE: '100000000', MESSAGE_RATE_BURST: '1000000' })
  t.teardown(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL') })
  const { ports } = await run.started
  const api = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`http://127.0.0.1:${ports.http}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
    })
    return res.json() as Promise<any>
  }
  const user = async (username: string) => {
    const { user } = await api('/v1/auth/register', { username, password: `password-${username}` })
    const { accessToken } = await api('/v1/auth/login', { username, password: `password-${username}` })
    return { id: user.id as string, token: accessToken as string }
  }
  const alice = await user('alice')
  const bob = await user('bob')
  const roomId = (await api('/v1/rooms', { type: 'direct', userId: bob.id }, alice.token)).room.id as string

  const connect = (token: string, clientId: string) => mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { username: '', password: token, clientId, reconnectPeriod: 0, log: () => {} })
  const clients = [await connect(alice.token, 'alice-phone'), await connect(bob.token, 'bob-phone')]
  for (const client of clients) client.on('error', () => {})
  let total = 0
  let signalled = false
  const onAck = () => {
    if (++total < SIGTERM_AFTER_ACKS || signalled) return
    signalled = true
    run.child.kill('SIGTERM')
  }
  const streams = [stream(clients[0]!, `chat/${roomId}/${alice.id}`, 'a', onAck), stream(clients[1]!, `chat/${roomId}/${bob.id}`, 'b', onAck)]

  const exit = await run.exited
  t.ok(signalled, `SIGTERM sent after ${SIGTERM_AFTER_ACKS} acknowledgements`)
  t.equal(exit.code, 0, 'the node drained and exited with 0')
  await Promise.all(streams.map((s) => s.closed))
  t.pass('the node closed both MQTT clients')
  for (const client of clients) await client.endAsync(true)

  const stored = await store.storedIds()
  const counts = new Map<string, number>()
  for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1)
  const acked = streams.flatMap((s) => [...s.acked])
  const sent = new Set(streams.flatMap((s) => [...s.sent]))
  t.ok(acked.length >= SIGTERM_AFTER_ACKS, `${acked.length} acknowledged, ${sent.size} sent, ${stored.length} stored`)
  t.same(acked.filter((id) => counts.get(id) !== 1), [], 'every acknowledged message is stored exactly once')
  t.same([...counts].filter(([, n]) => n > 1), [], 'nothing is stored twice')
  t.same(stored.filter((id) => !sent.has(id)), [], 'nothing is stored that was not sent')
  // The drain stops reading, then waits for what it read: what it stored it also acknowledged before closing.
  t.same(stored.filter((id) => !acked.includes(id)), [], 'every stored message was acknowledged before the clients were closed')
  t.ok(run.lines.some((line) => JSON.parse(line).msg === 'stopped'), 'the log says it stopped')
})
