import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import pg from 'pg'
import t from 'tap'
import { runMain } from '../helpers/process.ts'
import { postgresUrl } from '../helpers/services.ts'

t.test('at LOG_LEVEL=trace, passwords and tokens never reach the log; connects and disconnects are logged with ids', async (t) => {
  const url = postgresUrl(t)
  const schema = `t_logs_${randomBytes(4).toString('hex')}`
  if (url) {
    t.teardown(async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client.end()
    })
  }
  const run = runMain({ LOG_LEVEL: 'trace', DATA_DIR: 'memory://', ...(url ? { DATABASE_URL: url, DATABASE_SCHEMA: schema } : {}) })
  t.teardown(() => { if (run.child.exitCode === null) run.child.kill('SIGKILL') })
  const { ports } = await run.started
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`http://127.0.0.1:${ports.http}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() as any }
  }

  const password = `pw-${randomBytes(12).toString('hex')}`
  const wrongPassword = `wrong-${randomBytes(12).toString('hex')}`
  const alice = (await post('/v1/auth/register', { username: 'alice', password })).body.user
  const bob = (await post('/v1/auth/register', { username: 'bob', password: `${password}-bob` })).body.user
  t.equal((await post('/v1/auth/login', { username: 'alice', password: wrongPassword })).status, 401, 'a wrong password is refused')
  const token = (await post('/v1/auth/login', { username: 'alice', password })).body.accessToken as string
  const signature = token.split('.')[2]!
  const roomId = (await post('/v1/rooms', { type: 'direct', userId: bob.id }, token)).body.room.id as string
  t.equal((await fetch(`http://127.0.0.1:${ports.http}/v1/users/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200)

  const client = await mqtt.connectAsync(`ws://127.0.0.1:${ports.ws}/mqtt`, { username: alice.id, password: token, clientId: 'alice-phone', reconnectPeriod: 0 })
  await client.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id: 'm1', body: 'hello' }), { qos: 1 })
  await client.publishAsync(`chat/${roomId}/${bob.id}`, JSON.stringify({ id: 'm2', body: 'as bob' }), { qos: 1 })
  await client.endAsync()
  const overTcp = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { username: alice.id, password: token, clientId: 'alice-laptop', reconnectPeriod: 0 })
  await overTcp.endAsync()
  const forged = `${token.slice(0, -4)}AAAA`
  await t.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { username: alice.id, password: forged, reconnectPeriod: 0 }), 'a forged token is refused')

  run.child.kill('SIGTERM')
  const { code, stderr } = await run.exited
  t.equal(code, 0)
  const logged = `${run.lines.join('\n')}\n${stderr}`
  for (const [what, secret] of [['password', password], ['wrong password', wrongPassword], ['token', token], ['token signature', signature], ['forged token', forged]] as const) {
    t.notOk(logged.includes(secret), `the ${what} appears nowhere in stdout or stderr`)
  }

  const entries = run.lines.map((line) => JSON.parse(line))
  t.ok(entries.some((e) => e.level <= 20), 'trace and debug lines were written (the check covers them)')
  const connected = entries.find((e) => e.msg === 'mqtt connected')
  t.match(connected, { connectionId: String, clientId: `${alice.id}:alice-phone`, userId: alice.id, remoteAddress: '127.0.0.1' }, 'a connect line with ids')
  const connectedOverTcp = entries.find((e) => e.msg === 'mqtt connected' && e.clientId === `${alice.id}:alice-laptop`)
  t.match(connectedOverTcp, { connectionId: String, userId: alice.id, remoteAddress: '127.0.0.1' }, 'a TCP connection is logged with its address too')
  const disconnected = entries.find((e) => e.msg === 'mqtt disconnected')
  t.match(disconnected, { connectionId: connected?.connectionId, clientId: connected?.clientId, userId: alice.id, durationMs: Number, reason: 'client_disconnect' }, 'its disconnect line, same connection id')
  t.ok(entries.some((e) => e.msg === 'mqtt connect refused' && e.returnCode === 4), 'the refused CONNECT is logged')
  const request = entries.find((e) => e.msg === 'http request' && e.route === '/v1/rooms')
  t.match(request, { requestId: String, method: 'POST', route: '/v1/rooms', status: 201, userId: alice.id, ms: Number }, 'one line per request, with its route template')
})
