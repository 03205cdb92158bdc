import t from 'tap'
import { ERROR_CATALOGUE } from '../../shared/errors.ts'
import { startTestNode } from '../helpers/node.ts'

// Every REST route under attack (issue 8). The routes are read from the
// Koa routers of the running node, so a route someone adds later is covered
// without editing this file: it must either be on the PUBLIC allow-list or
// answer 401 without a token, and an outsider's token must never reach
// another user's rooms and messages.

const PAGE_MAX = 3
// METRICS_TOKEN: `GET /metrics` joins the API routes, and must refuse user tokens too.
const app = await startTestNode(t, { HISTORY_PAGE_MAX: String(PAGE_MAX), SYNC_ROOM_MAX: String(PAGE_MAX), METRICS_TOKEN: 'metrics-token-for-rest-authz-test' })

/** Paths anyone may call. Everything else must answer 401 `unauthenticated` without a valid token. */
const PUBLIC = [
  /^\/v1\/auth\//, /^\/\.well-known\/jwks\.json$/, /^\/healthz$/, /^\/readyz$/, /^\/openapi\.json$/, /^\/$/, /^\/config\.json$/,
  /^\/v1\/client-config$/, /^\/v1\/push\/vapid-public-key$/, /^\/(assets|static|dist)\//,
]
/** Routes a user may call on another user's id (none yet): everything else with a `:userId` is refused to outsiders. */
const OPEN_TO_ANY_USER: string[] = []

type Route = { method: string; path: string; params: string[] }
const routes: Route[] = app.node.httpRoutes.map((route) => {
  const [method, path] = route.split(' ') as [string, string]
  return { method, path, params: [...path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!) }
})
const isPublic = (route: Route) => PUBLIC.some((re) => re.test(route.path))
const authenticated = routes.filter((route) => !isPublic(route))
const CODES = Object.keys(ERROR_CATALOGUE)

const SECRET = 'zq-secret-marker'
const [alice, bob, carol, mallory] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol'), app.user('mallory')])
const post = async (token: string, path: string, body: unknown) => app.http('POST', path, { token, body })
/** Alice and Bob's room, with one message; Mallory is in neither of their rooms. */
const R = (await post(alice.token, '/v1/rooms', { type: 'group', name: `${SECRET}-room`, memberIds: [bob.id] })).body.room.id as string
const D = (await post(alice.token, '/v1/rooms', { type: 'direct', userId: bob.id })).body.room.id as string
await post(alice.token, `/v1/rooms/${R}/messages`, { id: 'a-1', body: `${SECRET} hello bob` })
await post(alice.token, `/v1/rooms/${D}/messages`, { id: 'a-2', body: `${SECRET} direct` })
/** Mallory's own room, with Carol, and more messages than a page holds. */
const M = (await post(mallory.token, '/v1/rooms', { type: 'group', name: 'mallory-room', memberIds: [carol.id] })).body.room.id as string
for (let i = 1; i <= PAGE_MAX + 3; i++) await post(mallory.token, `/v1/rooms/${M}/messages`, { id: `m-${i}`, body: `page ${i}` })
await Promise.all(Array.from({ length: PAGE_MAX + 1 }, (_, i) => app.user(`pager${i}`)))

/** A concrete path for `route`, each parameter replaced by `values[name]` (default: Alice's id). */
const fill = (route: Route, values: Record<string, string>) =>
  route.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(values[name] ?? alice.id))
/** A valid body per route, so that what refuses an outsider is the access check and not validation. */
const VALID_BODY: Record<string, unknown> = {
  'POST /v1/rooms': { type: 'group', name: 'new', memberIds: [] },
  'POST /v1/rooms/:roomId/messages': { id: 'x-1', body: 'intrusion' },
  'PATCH /v1/rooms/:roomId': { name: 'pwned' },
  'POST /v1/rooms/:roomId/members': { userIds: [mallory.id] },
  'PUT /v1/rooms/:roomId/members/:userId/role': { role: 'admin' },
  'PATCH /v1/rooms/:roomId/messages/:messageId': { body: 'hijacked' },
  'PUT /v1/rooms/:roomId/read': { lastReadId: 1 },
  'POST /v1/sync': { rooms: { [R]: 0, [D]: 0 } },
  'PUT /v1/rooms/:roomId/notifications': { muted: true },
  'PUT /v1/users/me/notifications': { doNotDisturb: true },
  'PATCH /v1/admin/users/:userId': { disabled: true },
  'POST /v1/admin/rooms/:roomId/messages': { body: 'system' },
}
const key = (route: Route) => `${route.method} ${route.path}`
const takesBody = (route: Route) => ['POST', 'PUT', 'PATCH'].includes(route.method)
/** Calls `route` at `path`; a body-taking route gets `body` when one is passed (null included), else its valid body. */
const call = (route: Route, path: string, token?: string, ...body: unknown[]) =>
  app.http(route.method, route.method === 'GET' || route.method === 'DELETE' ? `${path}?q=${SECRET}&limit=5` : path,
    { token, body: takesBody(route) ? (body.length > 0 ? body[0] : VALID_BODY[key(route)] ?? {}) : undefined })
/** 400 with a code; or 403 `forbidden` from a route that checks the caller's role before it reads input (the admin routes). */
const refusedInput = (res: { status: number; body: any }) =>
  (res.status === 400 && CODES.includes(res.body?.error?.code)) || (res.status === 403 && res.body?.error?.code === 'forbidden')

t.test('the walk found the routers', async (t) => {
  t.ok(routes.length >= 25, `${routes.length} routes found`)
  for (const known of ['POST /v1/auth/login', 'GET /v1/rooms/:roomId/messages', 'DELETE /v1/rooms/:roomId/members/:userId', 'POST /v1/sync']) {
    t.ok(routes.some((r) => key(r) === known), `includes ${known}`)
  }
  t.comment(`public: ${routes.filter(isPublic).map(key).join(', ')}`)
})

t.test('every route off the public list answers 401 without a valid token', async (t) => {
  const tokens: Array<[string, string | undefined]> = [['no token', undefined], ['a garbage token', 'not.a.token'], ['an empty bearer', ' ']]
  for (const route of authenticated) {
    const path = fill(route, { roomId: M, messageId: '1', userId: mallory.id })
    for (const [what, token] of tokens) {
      const res = await call(route, path, token)
      t.same([res.status, res.body?.error?.code], [401, 'unauthenticated'],
        `${key(route)} with ${what}: 401 (if it is meant to be public, add it to PUBLIC in this file)`)
    }
    if (route.method === 'GET') t.equal((await app.http('HEAD', path)).status, 401, `HEAD ${route.path}: 401`)
  }
})

t.test('an outsider\'s token reaches none of another user\'s rooms, messages or ids', async (t) => {
  const before = await snapshot()
  for (const route of authenticated) {
    const path = fill(route, { roomId: R, messageId: '1', userId: alice.id })
    const res = await call(route, path, mallory.token)
    const shown = `${route.method} ${path}`
    t.notOk(JSON.stringify(res.body ?? '').includes(SECRET), `${shown}: nothing of Alice's rooms in the answer`)
    if (route.path.startsWith('/v1/admin/')) {
      t.same([res.status, res.body?.error?.code], [403, 'forbidden'], `${shown}: 403 forbidden for a user who is not an admin`)
    } else if (route.params.includes('roomId')) {
      t.ok([403, 404].includes(res.status) && ['room_not_found', 'forbidden', 'not_found'].includes(res.body?.error?.code),
        `${shown}: refused with 403/404 (got ${res.status} ${res.body?.error?.code})`)
    } else if (route.params.includes('userId') && !OPEN_TO_ANY_USER.includes(key(route))) {
      t.ok(res.status >= 403 && res.status < 500, `${shown}: refused (got ${res.status} ${res.body?.error?.code})`)
    }
  }
  t.same(await snapshot(), before, 'Alice\'s rooms, members, messages and read positions are unchanged')
})

t.test('nobody can reach or add the reserved system sender', async (t) => {
  const SYSTEM = '_mqchat_sys_'
  const attempts: Array<[string, string, string, unknown?]> = [
    ['POST', '/v1/rooms', 'direct room with it', { type: 'direct', userId: SYSTEM }],
    ['POST', '/v1/rooms', 'group with it', { type: 'group', name: 'sys', memberIds: [SYSTEM] }],
    ['POST', `/v1/rooms/${M}/members`, 'added to a room', { userIds: [SYSTEM] }],
    ['GET', `/v1/users/${SYSTEM}/presence`, 'its presence'],
  ]
  for (const [method, path, what, body] of attempts) {
    const res = await app.http(method, path, { token: mallory.token, body })
    t.ok(res.status === 404 || res.status === 400, `${what}: refused (got ${res.status} ${res.body?.error?.code})`)
  }
  const found = await app.http('GET', '/v1/users?q=system', { token: mallory.token })
  t.same(found.body?.users?.filter((u: { id: string }) => u.id === SYSTEM), [], 'not found by user search')
  const login = await app.http('POST', '/v1/auth/login', { body: { username: '$system', password: '!' } })
  t.ok([400, 401].includes(login.status), `cannot log in as it (got ${login.status})`)
})

/** What an outsider must not be able to change. */
async function snapshot() {
  const db = app.node.database.db
  return {
    rooms: await db.selectFrom('rooms').select(['id', 'name']).where('id', 'in', [R, D]).orderBy('id').execute(),
    members: await db.selectFrom('room_members').select(['room_id', 'user_id', 'role', 'last_read_seq']).where('room_id', 'in', [R, D]).orderBy(['room_id', 'user_id']).execute(),
    messages: await db.selectFrom('messages').select(['room_id', 'seq', 'body', 'deleted_at']).where('room_id', 'in', [R, D]).orderBy(['room_id', 'seq']).execute(),
    users: await db.selectFrom('users').select(['id', 'disabled']).orderBy('id').execute(),
  }
}

const BAD_PARAMS = ["'; DROP TABLE users; --", '\u0000', 'x'.repeat(300), '１２３４５６７８９０１２', '-1', '99999999999999999999999']

t.test('invalid path parameters give 400 with a catalogue code', async (t) => {
  for (const route of authenticated.filter((r) => r.params.length > 0)) {
    for (const param of route.params) {
      for (const bad of BAD_PARAMS) {
        if (param === 'messageId' && /^\d+$/.test(bad) && bad.length < 16) continue
        const res = await call(route, fill(route, { roomId: M, messageId: '1', userId: carol.id, [param]: bad }), mallory.token)
        t.ok(refusedInput(res), `${key(route)} :${param}=${JSON.stringify(bad.slice(0, 20))}: 400, or 403 forbidden ahead of input (got ${res.status} ${res.body?.error?.code})`)
      }
    }
  }
})

const INVALID_BODIES: Record<string, unknown[]> = {
  'POST /v1/rooms': [{ type: 'group' }, { type: 'direct', userId: 'x' }, { type: 'group', name: '', memberIds: [] }, { type: 'group', name: 'n', memberIds: 'x' },
    { type: 'evil' }, { type: 'group', name: 'x'.repeat(101), memberIds: [] }, { type: 'group', name: 'n', memberIds: [], admin: true }],
  'POST /v1/rooms/:roomId/messages': [{ id: 'a' }, { id: 'a', body: '' }, { id: 'a', body: 5 }, { id: '', body: 'x' }, { id: 'a b', body: 'x' },
    { id: 'a', body: 'x', sender: alice.id }, { id: 'a', body: 'nul\u0000' }, { id: { $gt: '' }, body: 'x' }],
  'PATCH /v1/rooms/:roomId': [{ name: '' }, { name: 5 }, { name: 'x'.repeat(101) }, { name: 'n', type: 'direct' }],
  'POST /v1/rooms/:roomId/members': [{ userIds: [] }, { userIds: ['x'] }, { userIds: 'x' }],
  'PUT /v1/rooms/:roomId/members/:userId/role': [{ role: 'owner' }, { role: 'god' }, {}],
  'PATCH /v1/rooms/:roomId/messages/:messageId': [{ body: '' }, { body: 5 }, { body: 'x', id: 2 }],
  'PUT /v1/rooms/:roomId/read': [{ lastReadId: 0 }, { lastReadId: -1 }, { lastReadId: 1.5 }, { lastReadId: '1' }, { lastReadId: 1e300 }],
  'POST /v1/sync': [{ rooms: { x: 1 } }, { rooms: { [M]: -1 } }, { limit: 0 }, { rooms: [] }, { rooms: {}, extra: 1 }],
}
const NOT_AN_OBJECT = [[], 'text', 42, null]

t.test('invalid bodies give 400 with a catalogue code', async (t) => {
  for (const route of authenticated.filter(takesBody)) {
    const path = fill(route, { roomId: M, messageId: '1', userId: carol.id })
    const broken = await app.http(route.method, path, { token: mallory.token, rawBody: '{"oops": ' })
    t.same([broken.status, broken.body?.error?.code], [400, 'bad_request'], `${key(route)}: broken JSON is 400 bad_request`)
    const big = await app.http(route.method, path, { token: mallory.token, rawBody: JSON.stringify({ pad: 'x'.repeat(70_000) }) })
    t.same([big.status, big.body?.error?.code], [413, 'payload_too_large'], `${key(route)}: a body over HTTP_BODY_MAX_BYTES is 413`)
    for (const body of [...(INVALID_BODIES[key(route)] ?? []), ...(VALID_BODY[key(route)] ? NOT_AN_OBJECT : [])]) {
      const res = await call(route, path, mallory.token, body)
      t.ok(refusedInput(res), `${key(route)} ${JSON.stringify(body)?.slice(0, 50)}: 400, or 403 forbidden ahead of input (got ${res.status} ${res.body?.error?.code})`)
    }
  }
})

t.test('invalid query parameters give 400; page sizes are capped', async (t) => {
  const lists = [`/v1/rooms/${M}/messages`, '/v1/users?q=pager', `/v1/rooms/${M}/messages/search?q=page`, '/v1/messages/search?q=page']
  for (const path of lists) {
    const sep = path.includes('?') ? '&' : '?'
    for (const bad of ['-1', '0', 'abc', '1.5', '1e3x', '']) {
      const res = await app.http('GET', `${path}${sep}limit=${encodeURIComponent(bad)}`, { token: mallory.token })
      t.ok((res.status === 400 && CODES.includes(res.body?.error?.code)) || (bad === '' && res.status === 200), `${path} limit=${bad}: 400 (got ${res.status})`)
    }
    const huge = await app.http('GET', `${path}${sep}limit=100000`, { token: mallory.token })
    const items = huge.body?.messages ?? huge.body?.users ?? huge.body?.results ?? huge.body?.hits
    t.ok(huge.status === 400 || (huge.status === 200 && Array.isArray(items) && items.length > 0 && items.length <= PAGE_MAX),
      `${path} limit=100000: capped at ${PAGE_MAX} or refused (got ${huge.status}, ${items?.length} items)`)
  }
  for (const bad of ['before=abc', 'after=-1', 'before=0', 'after=1.5']) {
    const res = await app.http('GET', `/v1/rooms/${M}/messages?${bad}`, { token: mallory.token })
    t.equal(res.status, 400, `history ${bad}: 400`)
  }
  const sync = await post(mallory.token, '/v1/sync', { rooms: { [M]: 0 }, limit: 100000 })
  t.equal(sync.status, 200)
  const synced = JSON.stringify(sync.body).match(/"page \d+"/g) ?? []
  t.ok(synced.length > 0 && synced.length <= PAGE_MAX, `sync limit=100000 returns at most ${PAGE_MAX} messages per room (got ${synced.length})`)
})

/** Strings that must be stored and returned exactly, as data. */
const HOSTILE = [
  "'; DROP TABLE users; --", "\" OR 1=1 --", "Robert'); DELETE FROM messages WHERE ('1'='1", '<script>alert(1)</script>', '<img src=x onerror=alert(1)>',
  '{{7*7}} ${7*7} %s%n', '../../etc/passwd', '\u202eevil\u202c', 'Z\u0337\u0322\u0353\u0333a\u0336\u0317l\u0334g\u0335o', '😀👩‍👩‍👧‍👦𝕳𝖊𝖑𝖑𝖔',
  '\ufeff\u200b\u2028\u2029', 'back\\slash "quoted" \ttab\nnewline', '🙂'.repeat(900), 'ä'.repeat(1500),
]

/** `text` as ASCII for a test name: a raw U+2028 or BOM in the TAP stream would break the report itself. */
const show = (text: string) => JSON.stringify(text.slice(0, 24)).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

t.test('injection strings are stored and returned as plain data', async (t) => {
  const usersBefore = await app.node.database.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  for (const [i, text] of HOSTILE.entries()) {
    const what = show(text)
    const sent = await post(mallory.token, `/v1/rooms/${M}/messages`, { id: `inj-${i}`, body: text })
    t.equal(sent.status, 201, `${what}: message accepted`)
    // PGlite decodes text with a default TextDecoder, which drops a leading U+FEFF; real Postgres keeps it.
    const stored = app.schema === undefined ? text.replace(/^\ufeff/, '') : text
    t.equal(sent.body?.message?.body, stored, `${what}: echoed exactly`)
    t.match(sent.headers['content-type'], /^application\/json/, `${what}: as JSON, never HTML`)
    const page = await app.http('GET', `/v1/rooms/${M}/messages?after=${sent.body?.message?.id - 1}&limit=1`, { token: mallory.token })
    t.equal(page.body?.messages?.[0]?.body, stored, `${what}: history returns it exactly`)
    const name = text.slice(0, 100).trim() || 'n'
    const renamed = await app.http('PATCH', `/v1/rooms/${M}`, { token: mallory.token, body: { name } })
    t.equal(renamed.body?.room?.name, name.trim(), `${what}: as a room name too`)
    const found = await app.http('GET', `/v1/users?q=${encodeURIComponent(text.slice(0, 64))}`, { token: mallory.token })
    t.ok(found.status === 200 || found.status === 400, `${what}: as a user search, 200 or 400 (got ${found.status})`)
    const search = await app.http('GET', `/v1/rooms/${M}/messages/search?q=${encodeURIComponent(text.slice(0, 100))}`, { token: mallory.token })
    t.ok(search.status === 200 || search.status === 400, `${what}: as a message search, 200 or 400 (got ${search.status})`)
  }
  const usersAfter = await app.node.database.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
  t.same(usersAfter, usersBefore, 'the users table is still there, unchanged')
})

t.test('NUL and other control characters are refused with 400 or stored exactly, never a 500', async (t) => {
  const fields: Array<[string, string, (v: string) => unknown, (b: any) => unknown]> = [
    ['message body', `/v1/rooms/${M}/messages`, (v) => ({ id: `nul-${Math.random().toString(36).slice(2, 8)}`, body: v }), (b) => b?.message?.body],
    ['group name', '/v1/rooms', (v) => ({ type: 'group', name: v, memberIds: [] }), (b) => b?.room?.name],
    ['display name', '/v1/auth/register', (v) => ({ username: `nul${Math.random().toString(36).slice(2, 8)}`, password: 'password-nul-1', displayName: v }), (b) => b?.user?.displayName],
  ]
  for (const value of ['a\u0000b', '\u0000', 'a\u0001\u001fb', 'a\ud800b']) {
    for (const [what, path, body, read] of fields) {
      const res = await post(mallory.token, path, body(value))
      const ok = res.status === 400 ? CODES.includes(res.body?.error?.code) : res.status === 201 && read(res.body) === value
      t.ok(ok, `${what} ${show(value)}: 400 with a code, or stored exactly (got ${res.status} ${res.body?.error?.code ?? show(String(read(res.body)))})`)
    }
    // Percent-encoded UTF-8 bytes, as a browser sends them (a lone surrogate becomes U+FFFD on the way).
    const encoded = [...Buffer.from(value)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')
    const q = await app.http('GET', `/v1/users?q=${encoded}`, { token: mallory.token })
    t.ok(q.status === 200 || q.status === 400, `user search ${show(value)}: 200 or 400 (got ${q.status})`)
    const s = await app.http('GET', `/v1/messages/search?q=${encoded}`, { token: mallory.token })
    t.ok(s.status === 200 || s.status === 400, `message search ${show(value)}: 200 or 400 (got ${s.status})`)
  }
})
