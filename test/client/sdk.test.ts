import t, { type Test } from 'tap'
import { connect, type ChatClient, type ChatEvents } from '../../client/index.ts'
import { startTestNode, type TestNode } from '../helpers/node.ts'

/** An SDK client of `user` on `node`, closed when the test ends. */
async function sdk(tt: Test, node: TestNode, user: { token: string }, ws = false): Promise<ChatClient> {
  const client = await connect({ url: node.mqttUrl(ws ? 'ws' : 'tcp'), apiUrl: `http://127.0.0.1:${node.node.ports.http}`, token: user.token, backoff: { initialMs: 100, maxMs: 1000 } })
  tt.teardown(() => client.close())
  return client
}

const online = (client: ChatClient) => client.state === 'online' ? Promise.resolve() : client.next('status', (s) => s.state === 'online').then(() => {})

t.test('messages, receipts, typing, edits, deletes and membership over the SDK (TCP and WebSocket)', async (t) => {
  const node = await startTestNode(t)
  const alice = await node.user('alice')
  const bob = await node.user('bob')
  const a = await sdk(t, node, alice)
  const b = await sdk(t, node, bob, true)
  await Promise.all([online(a), online(b)])
  t.equal(a.userId, alice.id, 'the user id is read from the token')

  const joined = b.next('membership', (e) => e.type === 'room_joined')
  const room = await a.openDirectRoom(bob.id)
  t.equal((await joined).roomId, room.id, 'bob is told of the new room and follows it')

  const got: ChatEvents['message'][] = []
  b.on('message', (m) => got.push(m))
  const bobGets = b.next('message', (m) => m.clientMsgId === 'hello-1')
  const stored = await a.send(room.id, 'hi bob', { clientMsgId: 'hello-1' })
  t.match(stored, { id: 1, roomId: room.id, senderId: alice.id, clientMsgId: 'hello-1', body: 'hi bob' }, 'send resolves with the stored message and its number')
  t.match(await bobGets, { id: 1, body: 'hi bob' }, 'bob receives it')
  const second = await a.send(room.id, 'second')
  t.equal(second.id, 2, 'numbers follow')

  const receipt = a.next('receipt')
  await b.markRead(room.id, 2)
  t.same(await receipt, { roomId: room.id, userId: bob.id, lastReadId: 2 }, 'alice gets the read receipt')

  const typing = a.next('typing')
  b.typing(room.id)
  t.same(await typing, { roomId: room.id, userId: bob.id }, 'alice sees bob typing')

  const edit = b.next('edit')
  await node.http('PATCH', `/v1/rooms/${room.id}/messages/1`, { token: alice.token, body: { body: 'hi bob!' } })
  t.match(await edit, { roomId: room.id, message: { id: 1, body: 'hi bob!' } }, 'bob gets the edit')
  const deleted = b.next('delete')
  await node.http('DELETE', `/v1/rooms/${room.id}/messages/2`, { token: alice.token })
  t.match(await deleted, { roomId: room.id, id: 2 }, 'bob gets the delete')
  t.same(got.map((m) => m.id), [1, 2], 'each message reached bob once, in order')

  const offline = b.next('presence', (p) => p.userId === alice.id && !p.online)
  await a.close()
  t.match(await offline, { userId: alice.id, online: false }, 'bob sees alice go offline')
})

t.test('a refused send rejects with its code, and close rejects what still waits', async (t) => {
  const node = await startTestNode(t)
  const alice = await node.user('alice')
  const carol = await node.user('carol')
  const dave = await node.user('dave')
  const roomRes = await node.http('POST', '/v1/rooms', { token: carol.token, body: { type: 'direct', userId: dave.id } })
  const a = await sdk(t, node, alice)
  await online(a)
  const error = a.next('error')
  await t.rejects(a.send(roomRes.body.room.id, 'let me in'), { code: 'room_not_found' }, 'not a member: refused for good')
  t.match(await error, { code: 'room_not_found' }, 'and reported as an error event')
  await t.rejects(a.send(roomRes.body.room.id, ' '), { code: 'validation_failed' })

  const pending = a.send(roomRes.body.room.id, 'never')
  await a.close()
  await t.rejects(pending, { code: 'closed' }, 'close rejects what is still waiting')
})

t.test('a new token is fetched before the current one expires, and the client reconnects with it', async (t) => {
  const node = await startTestNode(t, { JWT_TTL_SECONDS: '3' })
  const alice = await node.user('alice')
  const bob = await node.user('bob')
  let calls = 0
  const getToken = async () => {
    calls++
    const res = await node.http('POST', '/v1/auth/login', { body: { username: 'alice', password: 'password-alice' } })
    return res.body.accessToken as string
  }
  const a = await connect({ url: node.mqttUrl('tcp'), apiUrl: `http://127.0.0.1:${node.node.ports.http}`, getToken, refreshMarginMs: 1500 })
  t.teardown(() => a.close())
  await online(a)
  const room = await a.openDirectRoom(bob.id)
  const callsBefore = calls
  // Two refreshes: the first token lives 3 s and is replaced 1.5 s before it ends, and so on.
  await a.next('status', (s) => s.state === 'online')
  await a.next('status', (s) => s.state === 'online')
  t.ok(calls >= callsBefore + 2, `getToken was called again (${calls} calls)`)
  t.equal((await a.send(room.id, 'still here')).id, 1, 'sending works on the new token')
})
