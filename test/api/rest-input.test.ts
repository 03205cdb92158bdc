import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

t.test('405 answers carry Allow; an unknown method on a path with no route is 404', async (t) => {
  const app = await startTestNode(t)
  const alice = await app.user('alice')
  const call = (method: string, path: string) =>
    fetch(`http://127.0.0.1:${app.node.ports.http}${path}`, { method, headers: { authorization: `Bearer ${alice.token}` } })
  const allowOf = (header: string | null) => (header ?? '').split(',').map((m) => m.trim()).filter(Boolean).sort()
  for (const [method, path, allowed] of [
    ['PATCH', '/v1/rooms', ['GET', 'HEAD', 'POST']],
    ['PUT', '/v1/users/me', ['GET', 'HEAD']],
    ['DELETE', '/v1/auth/login', ['POST']],
    ['PROPFIND', '/v1/rooms', ['GET', 'HEAD', 'POST']],
  ] as const) {
    const res = await call(method, path)
    t.equal(res.status, 405, `${method} ${path}: 405`)
    t.same(allowOf(res.headers.get('allow')), allowed, `${method} ${path}: Allow: ${res.headers.get('allow')}`)
    t.equal((await res.json()).error.code, 'method_not_allowed', `${method} ${path}: method_not_allowed`)
  }
  const unknown = await call('PROPFIND', '/v1/no-such-path')
  t.equal(unknown.status, 404, 'PROPFIND on a path no route serves: 404')
  t.equal(unknown.headers.get('allow'), null, 'and no (empty) Allow')
  t.equal((await unknown.json()).error.code, 'not_found')
  const options = await call('OPTIONS', '/v1/rooms')
  t.equal(options.status, 200, 'OPTIONS still answers')
  t.same(allowOf(options.headers.get('allow')), ['GET', 'HEAD', 'POST'], 'with Allow')
})

t.test('numbers in paths and queries are decimal digits only', async (t) => {
  const app = await startTestNode(t)
  const [alice, bob] = [await app.user('alice'), await app.user('bob')]
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
  for (let i = 1; i <= 5; i++) await app.http('POST', `/v1/rooms/${room}/messages`, { token: alice.token, body: { id: `m${i}`, body: `hello ${i}` } })
  const get = (path: string) => app.http('GET', path, { token: alice.token })
  const refused = (res: { status: number; body: any }, what: string) => {
    t.equal(res.status, 400, `${what}: 400`)
    t.equal(res.body?.error?.code, 'validation_failed', `${what}: validation_failed`)
  }
  for (const query of ['before=0x3', 'before=1e1', 'before=%203', 'before=+3', 'before=3.0', 'before=', 'after=', 'after=-1', 'after=0x0', 'limit=', 'limit=2e0', 'limit=0', 'before=9007199254740992']) {
    refused(await get(`/v1/rooms/${room}/messages?${query}`), `history ?${query}`)
  }
  refused(await get('/v1/users?q=bo&limit=0x2'), 'user search ?limit=0x2')
  refused(await get('/v1/messages/search?q=hello&limit=1e1'), 'message search ?limit=1e1')
  refused(await app.http('PATCH', `/v1/rooms/${room}/messages/1e0`, { token: alice.token, body: { body: 'edited' } }), 'message number 1e0 in the path')
  refused(await app.http('DELETE', `/v1/rooms/${room}/messages/0x1`, { token: alice.token }), 'message number 0x1 in the path')
  t.equal((await get(`/v1/rooms/${room}/messages?after=0&limit=1`)).body.messages[0].body, 'hello 1', 'message 1 was neither edited nor deleted')

  t.same((await get(`/v1/rooms/${room}/messages?before=3`)).body.messages.map((m: any) => m.id), [1, 2], 'before=3')
  t.same((await get(`/v1/rooms/${room}/messages?after=0&limit=2`)).body.messages.map((m: any) => m.id), [1, 2], 'after=0')
  t.same((await get(`/v1/rooms/${room}/messages?after=003`)).body.messages.map((m: any) => m.id), [4, 5], 'leading zeros are still decimal')
  t.equal((await app.http('PATCH', `/v1/rooms/${room}/messages/2`, { token: alice.token, body: { body: 'edited' } })).status, 200, 'message number 2 in the path')
})
