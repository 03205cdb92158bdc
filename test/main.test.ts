import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import mqtt from 'mqtt'
import pg from 'pg'
import t from 'tap'
import { runMain } from './helpers/process.ts'
import { onlyWithPostgres, postgresUrl } from './helpers/services.ts'

/** Runs one statement on its own connection (this file does not import the app, so it does not use test/helpers/node.ts). */
async function query(url: string, text: string, values: unknown[] = []): Promise<any[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try { return (await client.query(text, values)).rows } finally { await client.end() }
}

t.test('a bad configuration value stops start-up with a message naming the variable', async (t) => {
  const run = runMain({ MQTT_PORT: '99999', JWT_TTL_SECONDS: 'soon' })
  run.started.catch(() => {})
  const { code, stderr } = await run.exited
  t.equal(code, 2, 'exit code 2')
  t.match(stderr, /MQTT_PORT/, 'names MQTT_PORT')
  t.match(stderr, /JWT_TTL_SECONDS/, 'names JWT_TTL_SECONDS')
})

t.test('a port in use stops start-up with a message naming the variable', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => blocker.close())
  const taken = (blocker.address() as AddressInfo).port
  // The ports are bound after the migrations: on Postgres, when there is one, the node gets there in a
  // second or two; an in-memory PGlite first spends 3-7 s of CPU creating its database.
  const url = process.env['DATABASE_URL']
  const schema = `t_main_port_${randomBytes(4).toString('hex')}`
  if (url) t.teardown(() => query(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
  const run = runMain(url ? { DATABASE_URL: url, DATABASE_SCHEMA: schema, MQTT_PORT: String(taken) } : { DATA_DIR: 'memory://', MQTT_PORT: String(taken) })
  run.started.catch(() => {})
  const { code } = await run.exited
  t.equal(code, 1, 'exit code 1')
  t.match(run.lines.join('\n'), new RegExp(`MQTT_PORT=${taken}: cannot listen on 127.0.0.1:${taken} \\(EADDRINUSE\\)`), 'the log names MQTT_PORT and the cause')
})

t.test('the embedded default: starts on PGlite, logs the bound ports, keeps data across restarts', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mqchat-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const first = runMain({ DATA_DIR: dataDir })
  const { ports, line } = await first.started
  t.match(line.database, /embedded Postgres \(PGlite\)/, 'the log says it runs on embedded Postgres')
  t.match(line.brokerState, /in memory/, 'and keeps broker state in memory')
  t.ok(ports.mqtt > 0 && ports.ws > 0 && ports.http > 0, `ports stated: ${JSON.stringify(ports)}`)
  const register = await fetch(`http://127.0.0.1:${ports.http}/v1/auth/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'persist', password: 'correct horse' }),
  })
  t.equal(register.status, 201)
  const token = ((await (await fetch(`http://127.0.0.1:${ports.http}/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'persist', password: 'correct horse' }),
  })).json()) as { accessToken: string }).accessToken
  const connected = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { username: '', password: token, reconnectPeriod: 0 })
  const clientClosed = new Promise<void>((resolve) => connected.once('close', () => resolve()))
  const stoppedAt = Date.now()
  first.child.kill('SIGTERM')
  t.equal((await first.exited).code, 0, 'SIGTERM stops it cleanly')
  await clientClosed
  t.ok(Date.now() - stoppedAt < 10000, `with an MQTT client connected, it stopped in ${Date.now() - stoppedAt} ms and closed the client`)

  const second = runMain({ DATA_DIR: dataDir })
  const again = await second.started
  const login = await fetch(`http://127.0.0.1:${again.ports.http}/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'persist', password: 'correct horse' }),
  })
  t.equal(login.status, 200, 'the account survived the restart')
  const secondToken = ((await login.json()) as { accessToken: string }).accessToken
  second.child.kill('SIGTERM')
  await second.exited
  const logged = [...first.lines, ...second.lines].join('\n')
  t.notOk(logged.includes('correct horse'), 'the password is not logged')
  t.notOk(logged.includes(token) || logged.includes(secondToken), 'the tokens are not logged')
})

t.test('with DATABASE_URL it uses that Postgres', onlyWithPostgres(), async (t) => {
  const url = postgresUrl(t)!
  const schema = `t_main_${randomBytes(4).toString('hex')}`
  const run = runMain({ DATABASE_URL: url, DATABASE_SCHEMA: schema })
  const { line } = await run.started
  t.match(line.database, /^Postgres at /, 'the log names Postgres')
  t.notMatch(line.database, /:\/\/|password/, 'without credentials')
  run.child.kill('SIGTERM')
  t.equal((await run.exited).code, 0)
  const tables = await query(url, 'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema])
  await query(url, `DROP SCHEMA "${schema}" CASCADE`)
  t.same(tables.map((r) => r.table_name), ['kysely_migration', 'kysely_migration_lock', 'messages', 'push_jobs', 'push_pending', 'push_room_mutes', 'push_subscriptions', 'push_user_settings', 'room_members', 'rooms', 'server_keys', 'users'], 'migrations were applied there')
})
