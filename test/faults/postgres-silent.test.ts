import t from 'tap'
import { startTestNode } from '../helpers/node.ts'
import { onlyWithPostgres, postgresUrl } from '../helpers/services.ts'
import { hostPort, startTcpProxy, viaProxy } from '../helpers/tcp-proxy.ts'

// A Postgres connection can go silent rather than close: the host went away, a failover moved the
// address, a firewall dropped the link. No reset comes, and a node waiting for an answer sends nothing
// that would make TCP find out. The server's statement_timeout cannot help, since its error would come
// over the same dead link; the node gives up on the connection DATABASE_TIMEOUT_MS + 2 s after asking.

/** Settles with the outcome of `request`, or 'no answer' after `ms`. */
async function within<T>(request: Promise<T>, ms: number): Promise<T | 'no answer'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'no answer'>((resolve) => { timer = setTimeout(resolve, ms, 'no answer') })
  try { return await Promise.race([request, late]) } finally { clearTimeout(timer) }
}

t.test('a message whose commit goes unanswered is refused in time, and the node goes on storing', onlyWithPostgres(), async (t) => {
  const realUrl = postgresUrl(t)!
  const proxy = await startTcpProxy(hostPort(realUrl))
  t.teardown(() => proxy.close())
  const app = await startTestNode(t, { DATABASE_URL: viaProxy(realUrl, proxy), DATABASE_TIMEOUT_MS: '1000' })
  const [alice, bob] = [await app.user('alice'), await app.user('bob')]
  const roomId = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id as string
  const post = (id: string) => app.http('POST', `/v1/rooms/${roomId}/messages`, { token: alice.token, body: { id, body: id } })
  t.equal((await post('before')).status, 201, 'stored before the connections go silent')

  proxy.freeze()
  const started = Date.now()
  const silent = await within(post('during'), 15_000)
  t.not(silent, 'no answer', 'the request is answered, not held for ever')
  if (silent === 'no answer') return
  t.equal(silent.status, 503, `refused as the database being unavailable, after ${Date.now() - started} ms`)
  t.equal(silent.body?.error?.code, 'server_busy', 'with the catalogue code: the client may send it again')

  const again = await within(post('during'), 15_000)
  t.not(again, 'no answer', 'the resend is answered')
  if (again === 'no answer') return
  t.equal(again.status, 201, 'the resend is stored, on a new connection')
  const page = await app.http('GET', `/v1/rooms/${roomId}/messages?limit=10`, { token: alice.token })
  t.same(page.body.messages.map((m: { clientMsgId: string }) => m.clientMsgId), ['before', 'during'], 'both messages stored, once each')
})
