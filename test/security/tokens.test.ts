import { createHmac, createPrivateKey, createPublicKey, createSign, sign as signRaw } from 'node:crypto'
import { SignJWT, exportJWK, generateKeyPair, type JWTHeaderParameters } from 'jose'
import t from 'tap'
import { sleep, startTestNode } from '../helpers/node.ts'

// Hostile access tokens (issue 8): every forgery is refused both by the REST
// API (401 unauthenticated) and at MQTT CONNECT (CONNACK 4, or 5 for an
// account that is disabled), while a control token built the same way but
// honestly is accepted on both, so each refusal is the check at work.

// Accounts read as enabled are trusted for 1.5 s here (ACCOUNT_CACHE_TTL_MS), so a change made behind mqchat's back shows quickly.
const app = await startTestNode(t, { ACCOUNT_CACHE_TTL_MS: '1500' })
const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
const { signingKey } = app.node.services
const { JWT_ISSUER: iss, JWT_AUDIENCE: aud } = app.config
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)
const claims = (extra: Record<string, unknown> = {}) => ({ sub: alice.id, username: 'alice', iss, aud, iat: now(), exp: now() + 600, ...extra })

/** What an attacker can read: the public key as served by JWKS, and derived from the key row in the database. */
const jwks = (await app.http('GET', '/.well-known/jwks.json')).body.keys[0]
const keyRow = await app.node.database.db.selectFrom('server_keys').select('value').where('name', '=', 'jwt_signing_key').executeTakeFirstOrThrow()
const publicPem = createPublicKey(createPrivateKey(keyRow.value)).export({ type: 'spki', format: 'pem' }).toString()
const publicDer = createPublicKey(createPrivateKey(keyRow.value)).export({ type: 'spki', format: 'der' })

/** A token with `header` and `payload` signed by `key` under any algorithm jose knows. */
async function signed(header: JWTHeaderParameters, payload: Record<string, unknown>, key: Parameters<SignJWT['sign']>[0]): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key)
}

/** HS256 over header.payload with `secret`, by hand: jose refuses to HMAC with an asymmetric key's text, an attacker would not. */
function hmac(header: object, payload: object, secret: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** ES256 with the server's own private key, for cases that only a wrong claim or header must sink. */
const serverSigned = (payload: Record<string, unknown>, header: Partial<JWTHeaderParameters> = {}) =>
  signed({ alg: 'ES256', kid: signingKey.kid, typ: 'JWT', ...header }, payload, signingKey.privateKey)

async function restStatus(token: string): Promise<{ status: number; code?: string }> {
  const res = await app.http('GET', '/v1/users/me', { token })
  return { status: res.status, code: res.body?.error?.code }
}

async function connackCode(token: string): Promise<number> {
  try {
    const client = await app.mqtt(token)
    await client.endAsync(true)
    return 0
  } catch (err) {
    return (err as { code?: number }).code ?? -1
  }
}

// Created before the first subtest: a top-level await after it would let the root test end early.
const otherEs256 = await generateKeyPair('ES256', { extractable: true })
const otherRs256 = await generateKeyPair('RS256')
const otherEd = await generateKeyPair('EdDSA')
const attackerJwk = { ...(await exportJWK(otherEs256.publicKey)), kid: signingKey.kid }

t.test('control: an honestly built token is accepted on both transports', async (t) => {
  const token = await serverSigned(claims())
  t.same(await restStatus(token), { status: 200, code: undefined }, 'REST accepts it')
  t.equal(await connackCode(token), 0, 'MQTT accepts it')
  t.equal(await connackCode(alice.token), 0, 'and the login token too')
})

const stolenSignature = alice.token.split('.')[2]!

const cases: Array<[string, () => Promise<string> | string]> = [
  // alg none, in every spelling, with and without a signature part.
  ...['none', 'None', 'NONE', 'nOnE'].map((alg): [string, () => string] => [`alg ${alg}`, () => `${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`]),
  ['alg none with the login token\'s signature kept', () => `${b64({ alg: 'none', kid: signingKey.kid })}.${b64(claims())}.${stolenSignature}`],
  ['alg none without a signature part', () => `${b64({ alg: 'none' })}.${b64(claims())}`],
  // Key confusion: HS256 keyed with every public form of the server key.
  ['HS256 keyed with the SPKI PEM from the key row', () => hmac({ alg: 'HS256', kid: signingKey.kid }, claims(), publicPem)],
  ['HS256 keyed with the PEM without its final newline', () => hmac({ alg: 'HS256', kid: signingKey.kid }, claims(), publicPem.trim())],
  ['HS256 keyed with the SPKI DER', () => hmac({ alg: 'HS256', kid: signingKey.kid }, claims(), publicDer)],
  ['HS256 keyed with the JWKS JSON', () => hmac({ alg: 'HS256', kid: signingKey.kid }, claims(), JSON.stringify(jwks))],
  ['HS256 keyed with the JWK x coordinate', () => hmac({ alg: 'HS256', kid: signingKey.kid }, claims(), jwks.x)],
  ['HS256 keyed with the kid', () => hmac({ alg: 'HS256', kid: signingKey.kid }, claims(), signingKey.kid)],
  // Time.
  ['expired an hour ago', () => serverSigned(claims({ iat: now() - 7200, exp: now() - 3600 }))],
  ['expired two seconds ago', () => serverSigned(claims({ iat: now() - 600, exp: now() - 2 }))],
  ['not valid before an hour from now (nbf)', () => serverSigned(claims({ nbf: now() + 3600 }))],
  ['issued an hour in the future (iat)', () => serverSigned(claims({ iat: now() + 3600, exp: now() + 7200 }))],
  ['exp not a number', () => serverSigned(claims({ exp: 'tomorrow' }))],
  ['no exp', () => serverSigned(claims({ exp: undefined }))],
  ['no iat', () => serverSigned(claims({ iat: undefined }))],
  // Claims.
  ['wrong iss', () => serverSigned(claims({ iss: 'evil' }))],
  ['iss differing in case', () => serverSigned(claims({ iss: iss.toUpperCase() }))],
  ['no iss', () => serverSigned(claims({ iss: undefined }))],
  ['wrong aud', () => serverSigned(claims({ aud: 'other-app' }))],
  ['aud list without ours', () => serverSigned(claims({ aud: ['other-app', `${aud}-x`] }))],
  ['no aud', () => serverSigned(claims({ aud: undefined }))],
  ['no sub', () => serverSigned(claims({ sub: undefined }))],
  ['sub not a string', () => serverSigned(claims({ sub: 42 }))],
  ['sub of no user', () => serverSigned(claims({ sub: 'NoSuchUser00' }))],
  ['sub of the reserved system sender', () => serverSigned(claims({ sub: '_mqchat_sys_', username: '$system' }))],
  ['no username', () => serverSigned(claims({ username: undefined }))],
  // Tampering with a genuine token.
  ['payload changed to bob, signature kept', () => {
    const [h, p, s] = alice.token.split('.') as [string, string, string]
    return `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: bob.id, username: 'bob' })}.${s}`
  }],
  ['exp extended, signature kept', () => {
    const [h, p, s] = alice.token.split('.') as [string, string, string]
    return `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), exp: now() + 10 ** 8 })}.${s}`
  }],
  ['header kid changed, signature kept', () => {
    const [, p, s] = alice.token.split('.') as [string, string, string]
    return `${b64({ alg: 'ES256', kid: 'other', typ: 'JWT' })}.${p}.${s}`
  }],
  ['signature truncated', () => alice.token.slice(0, -4)],
  ['signature of another token', async () => `${alice.token.split('.').slice(0, 2).join('.')}.${(await serverSigned(claims({ sub: bob.id }))).split('.')[2]}`],
  // Keys.
  ['unknown kid, signed with the server key', () => serverSigned(claims(), { kid: 'retired-key-1' })],
  ['no kid, signed with the server key', () => serverSigned(claims(), { kid: undefined })],
  ['kid with a path traversal', () => serverSigned(claims(), { kid: '../../../dev/null' })],
  ['server kid, signed by another ES256 key', () => signed({ alg: 'ES256', kid: signingKey.kid }, claims(), otherEs256.privateKey)],
  ['unknown kid, signed by another ES256 key', () => signed({ alg: 'ES256', kid: 'attacker' }, claims(), otherEs256.privateKey)],
  ['embedded jwk of the attacker (header injection)', () => signed({ alg: 'ES256', kid: signingKey.kid, jwk: attackerJwk }, claims(), otherEs256.privateKey)],
  ['jku pointing at the attacker', () => signed({ alg: 'ES256', kid: signingKey.kid, jku: 'http://127.0.0.1:9/jwks.json' }, claims(), otherEs256.privateKey)],
  ['RS256 by another key', () => signed({ alg: 'RS256', kid: signingKey.kid }, claims(), otherRs256.privateKey)],
  ['EdDSA by another key', () => signed({ alg: 'EdDSA', kid: signingKey.kid }, claims(), otherEd.privateKey)],
  ['ES256 signature in DER form', () => {
    const input = `${b64({ alg: 'ES256', kid: signingKey.kid, typ: 'JWT' })}.${b64(claims())}`
    return `${input}.${createSign('sha256').update(input).sign(createPrivateKey(keyRow.value)).toString('base64url')}`
  }],
  ['unknown critical header', () => {
    // jose will not sign a header it cannot honour; a forger signs by hand (raw r||s, as JWS wants).
    const input = `${b64({ alg: 'ES256', kid: signingKey.kid, crit: ['x-mqchat'], 'x-mqchat': 1 })}.${b64(claims())}`
    return `${input}.${signRaw('sha256', Buffer.from(input), { key: createPrivateKey(keyRow.value), dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
  }],
  // Shape.
  ['JWE-shaped (five parts)', () => `${alice.token}.x.y`],
  // Under Node's 16 KiB header limit, so the token itself is judged.
  ['a 12 KB token', () => `${b64({ alg: 'ES256', kid: signingKey.kid })}.${b64(claims({ pad: 'x'.repeat(9_000) }))}.${stolenSignature}`],
]

/** CONNACK 5 where the token is sound but names no usable account; 4 for every bad token. */
const connackFor: Record<string, number> = { 'sub of no user': 5, 'sub of the reserved system sender': 5 }

for (const [name, make] of cases) {
  t.test(`refused: ${name}`, async (t) => {
    const token = await make()
    t.same(await restStatus(token), { status: 401, code: 'unauthenticated' }, 'REST: 401 unauthenticated')
    t.equal(await connackCode(token), connackFor[name] ?? 4, `MQTT: CONNACK ${connackFor[name] ?? 4}`)
  })
}

t.test('a 60 KB password is refused at CONNECT', async (t) => {
  const token = `${b64({ alg: 'ES256', kid: signingKey.kid })}.${b64(claims({ pad: 'x'.repeat(45_000) }))}.${stolenSignature}`
  t.equal(await connackCode(token), 4, 'CONNACK 4')
})

t.test('a disabled account\'s unexpired token is refused', async (t) => {
  const carol = await app.user('carol')
  t.equal((await restStatus(carol.token)).status, 200, 'control: accepted while the account is enabled')
  t.equal(await connackCode(carol.token), 0, 'control: MQTT accepted too')
  // Straight in the database, behind mqchat's back (the admin API reaches every node at once: admin-disable.test.ts).
  await app.node.database.db.updateTable('users').set({ disabled: true }).where('id', '=', carol.id).execute()
  t.same(await restStatus(carol.token), { status: 401, code: 'unauthenticated' }, 'REST /v1/users/me, which reads the account itself: 401 at once')
  // Until then a node may still trust what it read (shown without timing in test/shared/account-cache.test.ts).
  await sleep(1600)
  t.equal(await connackCode(carol.token), 5, 'MQTT once ACCOUNT_CACHE_TTL_MS has passed: CONNACK 5 (not authorized)')
  t.same((await app.http('GET', '/v1/rooms', { token: carol.token })).body?.error?.code, 'unauthenticated', 'and any REST request: unauthenticated')
  const relogin = await app.http('POST', '/v1/auth/login', { body: { username: 'carol', password: 'password-carol' } })
  t.equal(relogin.status, 401, 'and no new token is issued')
})

t.test('the tokens this file forged never reached the log', async (t) => {
  const log = app.logLines.join('\n')
  t.notOk(log.includes(stolenSignature), 'no login token signature in the log')
  t.notOk(log.includes(publicPem.split('\n')[1]!), 'no key material in the log')
})
