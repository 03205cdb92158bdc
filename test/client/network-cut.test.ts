import t from 'tap'
import { connect, type ChatClient, type ChatMessage } from '../../client/index.ts'
import { sleep, startTestNode } from '../helpers/node.ts'
import { checkConversation, recordMessages, until, within } from './conversation-check.ts'
import { startTcpProxy } from './tcp-proxy.ts'

t.test('a network cut mid-conversation loses nothing and duplicates nothing', async (t) => {
  const node = await startTestNode(t)
  const alice = await node.user('alice')
  const bob = await node.user('bob')
  const room = (await node.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room
  const apiUrl = `http://127.0.0.1:${node.node.ports.http}`
  const proxyA = await startTcpProxy(t, node.node.ports.mqtt)
  const proxyB = await startTcpProxy(t, node.node.ports.mqtt)
  const open = async (token: string, port: number): Promise<ChatClient> => {
    const client = await connect({ url: `mqtt://127.0.0.1:${port}`, apiUrl, token, backoff: { initialMs: 50, maxMs: 400 }, echoTimeoutMs: 500 })
    t.teardown(() => client.close())
    await client.next('status', (s) => s.state === 'online')
    return client
  }
  const a = await open(alice.token, proxyA.port)
  const b = await open(bob.token, proxyB.port)
  const seenByBob = recordMessages(b)
  const seenByAlice = recordMessages(a)
  const sends: Promise<ChatMessage>[] = []
  const say = (text: string) => sends.push(a.send(room.id, text))

  for (let i = 1; i <= 5; i++) say(`before ${i}`)
  await until(b, seenByBob, 5)

  // The node stores these but its PUBACKs and echoes never reach alice; then the line is cut.
  proxyA.swallowDownstream()
  for (let i = 1; i <= 5; i++) say(`unacknowledged ${i}`)
  await sleep(300)
  proxyA.down()
  proxyB.down()
  proxyA.cut()
  proxyB.cut()
  // Sent while both are offline: they wait in alice's outbox.
  for (let i = 1; i <= 5; i++) say(`offline ${i}`)
  await sleep(300)
  t.ok(a.pendingCount >= 5, `the outbox holds what could not be confirmed (${a.pendingCount})`)
  proxyA.up()
  proxyB.up()
  for (let i = 1; i <= 5; i++) say(`after ${i}`)
  // A cut of bob alone, while alice keeps talking: bob catches up with sync.
  await until(b, seenByBob, 16)
  proxyB.cut()
  for (let i = 1; i <= 5; i++) say(`while bob reconnects ${i}`)

  const sent = await within(Promise.all(sends), 30_000, () => `${a.pendingCount} sends never resolved`)
  await until(b, seenByBob, sent.length)
  await until(a, seenByAlice, sent.length)
  await sleep(300) // room for a duplicate to show up, were there one
  const history = (await node.http('GET', `/v1/rooms/${room.id}/messages?limit=100`, { token: bob.token })).body.messages
  checkConversation(t, sent, seenByBob, history, 'bob')
  checkConversation(t, sent, seenByAlice, history, 'alice')
  t.ok(proxyA.accepted >= 2 && proxyB.accepted >= 3, 'both clients reconnected by themselves')
  t.equal(a.pendingCount, 0, 'the outbox is empty')
})
