import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import t from 'tap'
import { nextMessages, startTestNode, type TestNode } from '../helpers/node.ts'

/** One sample of the Prometheus text format. */
interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses the text exposition (one sample a line, comments skipped). */
function parse(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) continue
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]))
    samples.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the one sample named `name` whose labels include `labels` (0 when there is none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`)
  return found[0]?.value ?? 0
}

async function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

/** Two users in a direct room, alice connected over MQTT. */
async function chatScene(app: TestNode) {
  const alice = await app.user('alice')
  const bob = await app.user('bob')
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
  return { alice, bob, roomId }
}

t.test('GET /metrics on its own port: token required, and the counters follow what happened', async (t) => {
  const token = randomBytes(24).toString('hex')
  const app = await startTestNode(t, { METRICS_PORT: '0', METRICS_TOKEN: token })
  const port = app.node.ports.metrics
  t.ok(port, `metrics listener bound (port ${port})`)
  const url = `http://127.0.0.1:${port}/metrics`

  t.equal((await scrape(url)).status, 401, 'no token: 401')
  const wrong = await scrape(url, `${token}x`)
  t.equal(wrong.status, 401, 'wrong token: 401')
  t.equal(JSON.parse(wrong.text).error.code, 'unauthenticated', 'with the catalogue code')
  t.equal((await scrape(`http://127.0.0.1:${port}/other`, token)).status, 404, 'nothing else is served there')
  t.equal((await app.http('GET', '/metrics')).status, 404, 'and /metrics is not served on the API port')

  const { alice, bob, roomId } = await chatScene(app)
  const client = await app.mqtt(alice.token, { clientId: 'alice-phone' })
  const refused = mqtt.connectAsync(app.mqttUrl('tcp'), { username: '', password: 'not-a-token', reconnectPeriod: 0 })
  await t.rejects(refused, 'a bad token is refused')
  await client.subscribeAsync(`user/${alice.id}/errors`, { qos: 1 })
  const reported = nextMessages(client, 1)
  for (let i = 0; i < 3; i++) await client.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: `m${i}`, body: `hi ${i}` }), { qos: 1 })
  await client.publishAsync(`chat/${roomId}/${bob.id}`, JSON.stringify({ id: 'as-bob', body: 'no' }), { qos: 1 })
  await reported
  t.equal((await app.http('GET', `/v1/rooms/${roomId}/messages`, { token: bob.token })).status, 200)
  t.equal((await app.http('GET', '/v1/users/me')).status, 401)

  const ok = await scrape(url, token)
  t.equal(ok.status, 200, 'the right token: 200')
  t.match(ok.type, /^text\/plain; version=0\.0\.4/, 'Prometheus text format')
  const m = parse(ok.text)
  t.equal(value(m, 'mqchat_mqtt_connections'), 1, 'one MQTT connection')
  t.equal(value(m, 'mqchat_mqtt_connects_total', { return_code: '0' }), 1, 'one accepted CONNECT')
  t.equal(value(m, 'mqchat_mqtt_connects_total', { return_code: '4' }), 1, 'one refused with 4')
  t.equal(value(m, 'mqchat_mqtt_auth_failures_total', { return_code: '4' }), 1, 'counted as an authentication failure')
  t.equal(value(m, 'mqchat_mqtt_publishes_received_total'), 4, 'four publishes received')
  t.equal(value(m, 'mqchat_refusals_total', { transport: 'mqtt', code: 'topic_not_allowed' }), 1, 'one refused, by code')
  t.equal(value(m, 'mqchat_refusals_total', { transport: 'http', code: 'unauthenticated' }), 1, 'one REST refusal, by code')
  t.equal(value(m, 'mqchat_messages_delivered_total'), 3, 'three stored messages delivered')
  t.equal(value(m, 'mqchat_write_batch_size_sum'), 3, 'three messages committed')
  t.equal(value(m, 'mqchat_write_commit_duration_seconds_count'), value(m, 'mqchat_write_batch_size_count'), 'a commit latency per batch')
  t.ok(value(m, 'mqchat_write_batch_size_count') >= 1)
  t.equal(value(m, 'mqchat_write_queue_pending'), 0, 'nothing waiting')
  t.equal(value(m, 'mqchat_http_request_duration_seconds_count', { method: 'GET', route: '/v1/rooms/:roomId/messages', status: '200' }), 1, 'HTTP duration by route template')
  t.equal(value(m, 'mqchat_http_request_duration_seconds_count', { method: 'POST', route: '/v1/auth/register', status: '201' }), 2)
  t.notOk(ok.text.includes(roomId), 'no raw path (with its ids) in any label')
  t.match(ok.text, /# TYPE mqchat_push_sent_total counter/, 'push counters are defined')
  t.match(ok.text, /# TYPE mqchat_push_failed_total counter/)
  t.ok(m.some((s) => s.name === 'process_cpu_user_seconds_total'), 'and the process metrics')

  app.node.metrics.push.failed('gone')
  t.equal(value(parse((await scrape(url, token)).text), 'mqchat_push_failed_total', { reason: 'gone' }), 1, 'a push failure is counted by reason')
})

t.test('METRICS_TOKEN without METRICS_PORT: /metrics on the API port, behind the token; each node counts only itself', async (t) => {
  const token = randomBytes(24).toString('hex')
  const app = await startTestNode(t, { METRICS_TOKEN: token })
  const other = await startTestNode(t, { METRICS_TOKEN: token })
  t.equal(app.node.ports.metrics, null, 'no metrics listener')
  const url = `http://127.0.0.1:${app.node.ports.http}/metrics`
  const denied = await scrape(url)
  t.equal(denied.status, 401, 'no token: 401')
  t.equal(JSON.parse(denied.text).error.code, 'unauthenticated')
  await app.user('carol')
  const m = parse((await scrape(url, token)).text)
  t.equal(value(m, 'mqchat_http_request_duration_seconds_count', { route: '/v1/auth/login', status: '200' }), 1, 'served, with this node\'s requests')
  const o = parse((await scrape(`http://127.0.0.1:${other.node.ports.http}/metrics`, token)).text)
  t.equal(value(o, 'mqchat_http_request_duration_seconds_count', { route: '/v1/auth/login', status: '200' }), 0, 'the other node has its own registry')
})

t.test('neither METRICS_PORT nor METRICS_TOKEN: no metrics served', async (t) => {
  const app = await startTestNode(t)
  t.equal(app.node.ports.metrics, null)
  t.equal((await app.http('GET', '/metrics')).status, 404)
})
