import { generateKeyPair, createLocalJWKSet, jwtVerify, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { startTestNode } from '../helpers/node.ts'

const app = await startTestNode(t)
const { signingKey } = app.node.services

/** Every password and token this file uses; none may reach a log line. */
const secrets = new Set<string>()
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function register(username: string, password: string, displayName?: string) {
  secrets.add(password)
  return app.http('POST', '/v1/auth/register', { body: displayName === undefined ? { username, password } : { username, password, displayName } })
}

async function login(username: string, password: string) {
  secrets.add(password)
  const res = await app.http('POST', '/v1/auth/login', { body: { username, password } })
  if (res.body?.accessToken) secrets.add(res.body.accessToken)
  return res
}

function expectError(t: Test, res: { status: number; body: any }, status: number, codes: string | string[], what: string) {
  t.equal(res.status, status, `${what}: status ${status}`)
  t.ok([codes].flat().includes(res.body?.error?.code), `${what}: error.code ${res.body?.error?.code} is one of ${[codes].flat().join(', ')}`)
  t.type(res.body?.error?.message, 'string', `${what}: has a message`)
  t.ok(res.body?.error?.message?.length > 0, `${what}: message is not empty`)
}

t.test('register', async (t) => {
  const res = await register('alice', 'alice-password-1')
  t.equal(res.status, 201)
  t.match(res.body, { user: { id: /^[A-Za-z0-9_-]{12}$/, username: 'alice', displayName: 'alice' } }, 'displayName defaults to username')
  t.same(Object.keys(res.body.user).sort(), ['displayName', 'id', 'username'], 'only public fields, no password hash')

  const withName = await register('bob.b_-1', 'bob-password-1', 'Bob Builder')
  t.equal(withName.status, 201)
  t.match(withName.body.user, { username: 'bob.b_-1', displayName: 'Bob Builder' })
  t.not(withName.body.user.id, res.body.user.id, 'users get distinct ids')

  expectError(t, await register('alice', 'another-password'), 409, 'username_taken', 'same username')
  expectError(t, await register('ALICE', 'another-password'), 409, 'username_taken', 'same username in upper case')
  expectError(t, await register('Alice', 'another-password'), 409, 'username_taken', 'same username in mixed case')
})

t.test('invalid registrations are refused with 400', async (t) => {
  const cases: Array<[string, { body?: unknown; rawBody?: string }]> = [
    ['missing password', { body: { username: 'carol' } }],
    ['missing username', { body: { password: 'carol-password' } }],
    ['short password', { body: { username: 'carol', password: 'short12' } }],
    ['password not a string', { body: { username: 'carol', password: 12345678 } }],
    ['username with a space', { body: { username: 'car ol', password: 'carol-password' } }],
    ['username with a slash', { body: { username: 'car/ol', password: 'carol-password' } }],
    ['username with a +', { body: { username: 'carol+', password: 'carol-password' } }],
    ['username with non-ASCII', { body: { username: 'carölé', password: 'carol-password' } }],
    ['username too short', { body: { username: 'ca', password: 'carol-password' } }],
    ['username too long', { body: { username: 'c'.repeat(33), password: 'carol-password' } }],
    ['empty displayName', { body: { username: 'carol', password: 'carol-password', displayName: '  ' } }],
    ['extra field', { body: { username: 'carol', password: 'carol-password', admin: true } }],
    ['non-JSON body', { rawBody: '{"username": "carol", "password": ' }],
    ['JSON array', { body: [{ username: 'carol', password: 'carol-password' }] }],
    ['JSON string', { rawBody: '"carol"' }],
    ['no body', {}],
  ]
  for (const [what, opts] of cases) {
    expectError(t, await app.http('POST', '/v1/auth/register', opts), 400, ['validation_failed', 'bad_request'], what)
  }
  const missing = await app.http('POST', '/v1/auth/register', { body: { username: 'carol' } })
  t.equal(missing.body.error.code, 'validation_failed')
  t.match(missing.body.error.message, /password/, 'the message names the bad field')
  t.equal((await app.http('POST', '/v1/auth/register', { rawBody: '{oops' })).body.error.code, 'bad_request', 'broken JSON is bad_request')
  expectError(t, await login('carol', 'carol-password'), 401, 'invalid_credentials', 'none of them created carol')
})

t.test('login', async (t) => {
  const res = await login('alice', 'alice-password-1')
  t.equal(res.status, 200)
  t.match(res.body, { accessToken: String, tokenType: 'Bearer', expiresIn: 3600, user: { id: String, username: 'alice', displayName: 'alice' } })
  t.same(Object.keys(res.body).sort(), ['accessToken', 'expiresIn', 'tokenType', 'user'])
  t.equal(res.body.accessToken.split('.').length, 3, 'a compact JWT')

  const upper = await login('ALICE', 'alice-password-1')
  t.equal(upper.status, 200, 'the username is matched case-insensitively')
  t.equal(upper.body.user.id, res.body.user.id)

  expectError(t, await login('alice', 'alice-password-2'), 401, 'invalid_credentials', 'wrong password')
  expectError(t, await login('alice', 'ALICE-PASSWORD-1'), 401, 'invalid_credentials', 'password in other case')
  expectError(t, await login('nobody-here', 'alice-password-1'), 401, 'invalid_credentials', 'unknown user')
  const unknown = await login('nobody-here', 'whatever-1')
  const wrong = await login('alice', 'whatever-1')
  t.same(unknown.body, wrong.body, 'unknown user and wrong password answer alike')
  expectError(t, await app.http('POST', '/v1/auth/login', { body: { username: 'alice' } }), 400, 'validation_failed', 'login without password')
})

t.test('GET /v1/users/me', async (t) => {
  const { body } = await login('alice', 'alice-password-1')
  const me = await app.http('GET', '/v1/users/me', { token: body.accessToken })
  t.equal(me.status, 200)
  t.same(me.body, { user: body.user })

  expectError(t, await app.http('GET', '/v1/users/me'), 401, 'unauthenticated', 'no token')
  expectError(t, await app.http('GET', '/v1/users/me', { token: 'garbage' }), 401, 'unauthenticated', 'garbage token')
  expectError(t, await app.http('GET', '/v1/users/me', { token: 'a.b.c' }), 401, 'unauthenticated', 'garbage three-part token')

  const [header, payload, signature] = body.accessToken.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  const bob = await login('bob.b_-1', 'bob-password-1')
  const forgedPayload = b64url({ ...claims, sub: bob.body.user.id, username: 'bob.b_-1' })
  const tampered = `${header}.${forgedPayload}.${signature}`
  secrets.add(tampered)
  expectError(t, await app.http('GET', '/v1/users/me', { token: tampered }), 401, 'unauthenticated', 'payload changed, signature kept')
  const sig = Buffer.from(signature, 'base64url')
  sig[5] = sig[5]! ^ 0xff
  expectError(t, await app.http('GET', '/v1/users/me', { token: `${header}.${payload}.${sig.toString('base64url')}` }), 401, 'unauthenticated', 'signature altered')
  expectError(t, await app.http('GET', '/v1/users/me', { token: `${header}.${payload}.` }), 401, 'unauthenticated', 'signature removed')

  const res = await fetch(`http://127.0.0.1:${app.node.ports.http}/v1/users/me`, { headers: { authorization: body.accessToken } })
  t.equal(res.status, 401, 'a token without the Bearer scheme is refused')
})

t.test('JWKS serves one ES256 key that verifies the login token', async (t) => {
  const jwks = await app.http('GET', '/.well-known/jwks.json')
  t.equal(jwks.status, 200)
  t.equal(jwks.body.keys.length, 1, 'one key')
  const [key] = jwks.body.keys
  t.match(key, { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: String, x: String, y: String })
  t.notOk('d' in key, 'no private part')

  const { body } = await login('alice', 'alice-password-1')
  const { payload, protectedHeader } = await jwtVerify(body.accessToken, createLocalJWKSet(jwks.body), {
    algorithms: ['ES256'], issuer: 'mqchat', audience: 'mqchat',
  })
  t.equal(protectedHeader.alg, 'ES256')
  t.equal(protectedHeader.kid, key.kid, 'the token names the served key')
  t.equal(payload.sub, body.user.id)
  t.equal(payload['username'], 'alice')
  t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 3600, 'lives JWT_TTL_SECONDS')
})

t.test('forged and expired tokens are refused', async (t) => {
  const { body } = await login('alice', 'alice-password-1')
  const userId = body.user.id
  const now = Math.floor(Date.now() / 1000)
  const claims = { username: 'alice' }
  const refuse = async (token: string, what: string) => {
    secrets.add(token)
    expectError(t, await app.http('GET', '/v1/users/me', { token }), 401, 'unauthenticated', what)
  }

  const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: signingKey.kid }).setSubject(userId)
    .setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime('1h')
    .sign(new TextEncoder().encode('some-shared-secret-that-is-long-enough'))
  await refuse(hs256, 'HS256 token')

  const publicKeyAsSecret = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(userId)
    .setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime('1h')
    .sign(new TextEncoder().encode(JSON.stringify(signingKey.publicJwk)))
  await refuse(publicKeyAsSecret, 'HS256 token keyed with the public JWK')

  const unsignedClaims = { sub: userId, username: 'alice', iss: 'mqchat', aud: 'mqchat', iat: now, exp: now + 3600 }
  await refuse(`${b64url({ alg: 'none' })}.${b64url(unsignedClaims)}.`, 'alg none token')
  await refuse(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(unsignedClaims)}.`, 'alg none token with typ')
  await refuse(`${b64url({ alg: 'None' })}.${b64url(unsignedClaims)}.`, 'alg None token')

  const sign = (build: (jwt: SignJWT) => SignJWT, key = signingKey.privateKey) =>
    build(new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: signingKey.kid }).setSubject(userId)).sign(key)

  const valid = await sign((jwt) => jwt.setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime('1h'))
  secrets.add(valid)
  t.equal((await app.http('GET', '/v1/users/me', { token: valid })).status, 200, 'control: a token this test signs with the node key is accepted')

  await refuse(await sign((jwt) => jwt.setIssuer('mqchat').setAudience('mqchat').setIssuedAt(now - 7200).setExpirationTime(now - 3600)), 'expired token')
  await refuse(await sign((jwt) => jwt.setIssuer('mqchat').setAudience('mqchat').setIssuedAt(now - 100).setExpirationTime(now - 5)), 'token expired seconds ago')
  await refuse(await sign((jwt) => jwt.setIssuer('someone-else').setAudience('mqchat').setIssuedAt().setExpirationTime('1h')), 'wrong issuer')
  await refuse(await sign((jwt) => jwt.setIssuer('mqchat').setAudience('other-app').setIssuedAt().setExpirationTime('1h')), 'wrong audience')
  await refuse(await sign((jwt) => jwt.setIssuer('mqchat').setAudience('mqchat').setIssuedAt()), 'no expiry')
  await refuse(await sign((jwt) => jwt.setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime('1h').setSubject('NoSuchUser00')), 'unknown subject')
  const { privateKey: otherKey } = await generateKeyPair('ES256')
  await refuse(await sign((jwt) => jwt.setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime('1h'), otherKey), 'signed by another ES256 key')
})

t.test('GET /v1/users?q= searches usernames and display names', async (t) => {
  t.equal((await register('wonder_user', 'wonder-password-1', 'Queen of Hearts')).status, 201)
  t.equal((await register('percent', 'percent-password-1', 'Percy Cent')).status, 201)
  const { body } = await login('alice', 'alice-password-1')
  const token = body.accessToken
  const search = async (q: string) => {
    const res = await app.http('GET', `/v1/users?q=${encodeURIComponent(q)}`, { token })
    t.equal(res.status, 200, `q=${q}: 200`)
    return (res.body.users as Array<{ username: string }>).map((u) => u.username)
  }
  t.same(await search('ali'), ['alice'], 'username substring')
  t.same(await search('LIC'), ['alice'], 'case-insensitive username')
  t.same(await search('of hea'), ['wonder_user'], 'display name substring')
  t.same(await search('QUEEN'), ['wonder_user'], 'case-insensitive display name')
  t.same(await search('builder'), ['bob.b_-1'])
  t.same(await search('zzz-nobody'), [], 'no match')
  t.same(await search('%'), [], 'a % is literal, not a wildcard')
  t.same(await search('_'), ['bob.b_-1', 'wonder_user'], 'an _ is literal, not a wildcard')
  const full = await app.http('GET', '/v1/users?q=alice', { token })
  t.same(Object.keys(full.body.users[0]).sort(), ['displayName', 'id', 'username'], 'public fields only')

  expectError(t, await app.http('GET', '/v1/users?q=ali'), 401, 'unauthenticated', 'search needs auth')
  expectError(t, await app.http('GET', '/v1/users', { token }), 400, 'validation_failed', 'q missing')
  expectError(t, await app.http('GET', '/v1/users?q=', { token }), 400, 'validation_failed', 'q empty')
})

t.test('unknown routes are 404 not_found', async (t) => {
  expectError(t, await app.http('GET', '/nope'), 404, 'not_found', 'GET /nope')
  expectError(t, await app.http('GET', '/v1/nope'), 404, 'not_found', 'GET /v1/nope')
  expectError(t, await app.http('POST', '/v1/auth/nope', { body: {} }), 404, 'not_found', 'POST /v1/auth/nope')
})

t.test('no password or access token is ever logged', async (t) => {
  t.ok(app.logLines.length > 10, `the node logged (${app.logLines.length} lines)`)
  t.ok(app.logLines.some((line) => line.includes('/v1/auth/login')), 'login requests were logged')
  t.ok(secrets.size > 10, `${secrets.size} secrets checked`)
  for (const secret of secrets) {
    const leaks = app.logLines.filter((line) => line.includes(secret))
    t.same(leaks, [], `not logged: ${secret.slice(0, 12)}…`)
    const signature = secret.split('.')[2]
    if (signature) t.same(app.logLines.filter((line) => line.includes(signature)), [], 'nor the token signature alone')
  }
})
