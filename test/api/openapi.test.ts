import t from 'tap'
import type { z } from 'zod'
import { apiOperations } from '../../api/openapi/operations.ts'
import { errorCodesOf, type Operation } from '../../api/openapi/operation.ts'
import { startTestNode } from '../helpers/node.ts'

const openApiPath = (koaPath: string) => koaPath.replace(/:([A-Za-z]+)/g, '{$1}')

t.test('GET /openapi.json describes exactly the routes the API serves', async (t) => {
  const app = await startTestNode(t)
  const res = await app.http('GET', '/openapi.json')
  t.equal(res.status, 200)
  t.equal(res.body.openapi, '3.1.0', 'an OpenAPI 3.1 document')
  const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`)).sort()
  const served = app.node.httpRoutes.map((route) => route.replace(/ (.*)$/, (_, path: string) => ` ${openApiPath(path)}`)).sort()
  t.same(served.filter((route) => !documented.includes(route)), [], 'no route is missing from the document')
  t.same(documented.filter((route) => !served.includes(route)), [], 'the document lists no route that is not served')
  t.ok(served.length > 30, `${served.length} routes compared`)

  const send = res.body.paths['/v1/rooms/{roomId}/messages'].post
  t.match(send.requestBody.content['application/json'].schema, { properties: { id: { type: 'string' }, body: { type: 'string' } } }, 'request schemas come from the zod schemas the routes parse with')
  t.ok(send['x-error-codes'].includes('rate_limited') && send.responses['429'], 'error codes are listed with their status')
})

t.test('real answers match the response schemas the document declares', async (t) => {
  const app = await startTestNode(t)
  const operations = apiOperations({ metricsOnApi: false })
  const find = (method: string, path: string) => operations.find((op) => op.method === method && op.path === path)!
  const check = async (op: Operation, url: string, opts: { token?: string; body?: unknown } = {}) => {
    const res = await app.http(op.method.toUpperCase(), url, opts)
    const declared = op.responses[res.status]
    if (declared) {
      const parsed = declared.schema ? (declared.schema as z.ZodType).safeParse(res.body) : { success: res.body === undefined || res.body === '' }
      t.ok(parsed.success, `${op.method.toUpperCase()} ${op.path} ${res.status} matches its schema${parsed.success ? '' : `: ${JSON.stringify((parsed as { error?: unknown }).error)}`}`)
    } else {
      t.ok(res.body?.error && errorCodesOf(op).includes(res.body.error.code), `${op.method.toUpperCase()} ${op.path} ${res.status} ${res.body?.error?.code} is a listed error code`)
    }
    return res
  }

  const register = find('post', '/v1/auth/register')
  await check(register, '/v1/auth/register', { body: { username: 'alice', password: 'password-alice' } })
  await check(register, '/v1/auth/register', { body: { username: 'bob', password: 'password-bob' } })
  await check(register, '/v1/auth/register', { body: { username: 'bob', password: 'password-bob' } })
  const alice = (await check(find('post', '/v1/auth/login'), '/v1/auth/login', { body: { username: 'alice', password: 'password-alice' } })).body
  const bob = (await check(find('post', '/v1/auth/login'), '/v1/auth/login', { body: { username: 'bob', password: 'password-bob' } })).body
  const token = alice.accessToken
  await check(find('get', '/.well-known/jwks.json'), '/.well-known/jwks.json')
  await check(find('get', '/v1/users/me'), '/v1/users/me', { token })
  await check(find('get', '/v1/users'), '/v1/users?q=bo', { token })
  const room = (await check(find('post', '/v1/rooms'), '/v1/rooms', { token, body: { type: 'direct', userId: bob.user.id } })).body.room
  await check(find('post', '/v1/rooms'), '/v1/rooms', { token, body: { type: 'direct', userId: bob.user.id } })
  const group = (await check(find('post', '/v1/rooms'), '/v1/rooms', { token, body: { type: 'group', name: 'team', memberIds: [] } })).body.room
  const sendOp = find('post', '/v1/rooms/:roomId/messages')
  await check(sendOp, `/v1/rooms/${room.id}/messages`, { token, body: { id: 'm1', body: 'hello' } })
  await check(sendOp, `/v1/rooms/${room.id}/messages`, { token, body: { id: 'm1', body: 'hello' } })
  await check(sendOp, `/v1/rooms/${room.id}/messages`, { token, body: { id: 'm2' } })
  await check(find('get', '/v1/rooms'), '/v1/rooms', { token })
  await check(find('get', '/v1/rooms/unread'), '/v1/rooms/unread', { token: bob.accessToken })
  await check(find('get', '/v1/rooms/:roomId'), `/v1/rooms/${room.id}`, { token })
  await check(find('get', '/v1/rooms/:roomId'), '/v1/rooms/NoSuchRoom00', { token })
  await check(find('get', '/v1/rooms/:roomId/messages'), `/v1/rooms/${room.id}/messages?limit=10`, { token })
  await check(find('patch', '/v1/rooms/:roomId/messages/:messageId'), `/v1/rooms/${room.id}/messages/1`, { token, body: { body: 'hello again' } })
  await check(find('put', '/v1/rooms/:roomId/read'), `/v1/rooms/${room.id}/read`, { token: bob.accessToken, body: { lastReadId: 1 } })
  await check(find('post', '/v1/rooms/:roomId/typing'), `/v1/rooms/${room.id}/typing`, { token })
  await check(find('post', '/v1/sync'), '/v1/sync', { token, body: { rooms: {} } })
  await check(find('get', '/v1/rooms/:roomId/messages/search'), `/v1/rooms/${room.id}/messages/search?q=hello`, { token })
  await check(find('get', '/v1/messages/search'), '/v1/messages/search?q=hello', { token })
  await check(find('get', '/v1/users/:userId/presence'), `/v1/users/${bob.user.id}/presence`, { token })
  await check(find('patch', '/v1/rooms/:roomId'), `/v1/rooms/${group.id}`, { token, body: { name: 'renamed' } })
  await check(find('post', '/v1/rooms/:roomId/members'), `/v1/rooms/${group.id}/members`, { token, body: { userIds: [bob.user.id] } })
  await check(find('put', '/v1/rooms/:roomId/members/:userId/role'), `/v1/rooms/${group.id}/members/${bob.user.id}/role`, { token, body: { role: 'admin' } })
  await check(find('delete', '/v1/rooms/:roomId/members/:userId'), `/v1/rooms/${group.id}/members/${bob.user.id}`, { token })
  await check(find('delete', '/v1/rooms/:roomId/messages/:messageId'), `/v1/rooms/${room.id}/messages/1`, { token })
  await check(find('delete', '/v1/rooms/:roomId'), `/v1/rooms/${group.id}`, { token })
  await check(find('get', '/v1/admin/stats'), '/v1/admin/stats', { token })
  await check(find('get', '/healthz'), '/healthz')
  await check(find('get', '/readyz'), '/readyz')
})
