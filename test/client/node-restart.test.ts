import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { connect, RestClient, type ChatClient, type ChatMessage } from '../../client/index.ts'
import { dropSchema, sleep } from '../helpers/node.ts'
import { runMain, type MainProcess } from '../helpers/process.ts'
import { postgresUrl } from '../helpers/services.ts'
import { checkConversation, recordMessages, until, within } from './conversation-check.ts'
import { startTcpProxy } from './tcp-proxy.ts'

/**
 * The node runs as its own process behind two proxies (MQTT and HTTP), so
 * it can be stopped and started again on the same database while the
 * clients keep the same addresses. On Postgres it is killed with SIGKILL;
 * on the embedded PGlite (a directory) it is stopped with SIGTERM.
 */
t.test('the node stops and starts again mid-conversation: nothing lost, nothing twice', async (t) => {
  const databaseUrl = postgresUrl(t)
  const schema = `t_restart_${randomBytes(4).toString('hex')}`
  const dataDir = mkdtempSync(join(tmpdir(), 'mqchat-restart-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  if (databaseUrl) t.teardown(() => dropSchema(databaseUrl, schema))
  const env = databaseUrl ? { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema } : { DATA_DIR: dataDir }
  let node: MainProcess = runMain({ ...env, MESSAGE_RATE_PER_MINUTE: '600000', MESSAGE_RATE_BURST: '10000' })
  t.teardown(() => { node.child.kill('SIGKILL') })
  let ports = (await node.started).ports
  const mqttProxy = await startTcpProxy(t, ports.mqtt)
  const httpProxy = await startTcpProxy(t, ports.http)
  const apiUrl = `http://127.0.0.1:${httpProxy.port}`
  const rest = new RestClient(apiUrl)
  const users = []
  for (const name of ['alice', 'bob']) {
    const user = await rest.register(name, `password-${name}`)
    users.push({ ...user, token: (await rest.login(name, `password-${name}`)).accessToken })
  }
  const [alice, bob] = users as [(typeof users)[0], (typeof users)[0]]
  const room = await new RestClient(apiUrl, async () => alice.token).openDirectRoom(bob.id)
  const open = async (token: string): Promise<ChatClient> => {
    const client = await connect({ url: `mqtt://127.0.0.1:${mqttProxy.port}`, apiUrl, token, backoff: { initialMs: 100, maxMs: 500 }, echoTimeoutMs: 1000 })
    t.teardown(() => client.close())
    await client.next('status', (s) => s.state === 'online')
    return client
  }
  const a = await open(alice.token)
  const b = await open(bob.token)
  const seenByBob = recordMessages(b)
  const sends: Promise<ChatMessage>[] = []
  for (let i = 1; i <= 10; i++) sends.push(a.send(room.id, `before ${i}`))
  await until(b, seenByBob, 4)

  // Stop the node while sends are in flight; alice keeps sending while it is gone.
  node.child.kill(databaseUrl ? 'SIGKILL' : 'SIGTERM')
  await node.exited
  for (let i = 1; i <= 5; i++) sends.push(a.send(room.id, `while down ${i}`))
  await sleep(500)
  node = runMain({ ...env, MESSAGE_RATE_PER_MINUTE: '600000', MESSAGE_RATE_BURST: '10000' })
  ports = (await node.started).ports
  mqttProxy.retarget(ports.mqtt)
  httpProxy.retarget(ports.http)
  for (let i = 1; i <= 5; i++) sends.push(a.send(room.id, `after ${i}`))

  const sent = await within(Promise.all(sends), 30_000, () => `${a.pendingCount} sends never resolved`)
  await until(b, seenByBob, sent.length)
  await sleep(300)
  const history = (await new RestClient(apiUrl, async () => bob.token).history(room.id, { limit: 100 })).messages
  checkConversation(t, sent, seenByBob, history, 'bob')
  t.ok(mqttProxy.accepted >= 4, 'both clients reconnected to the restarted node')
})
