import t from 'tap'
import { SignJWT, generateKeyPair } from 'jose'
import { startTestNode } from '../helpers/node.ts'

/** CONNACK return code of a refused connection, read from MQTT.js's error. */
async function refusedWith(connect: Promise<unknown>): Promise<number | undefined> {
  try {
    await connect
    return undefined
  } catch (err) {
    return (err as { code?: number }).code
  }
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

t.test('CONNECT authenticates with the access token as password', async (t) => {
  const app = await startTestNode(t)
  const alice = await app.user('alice')
  const services = app.node.services
  const claims = { username: 'alice' }
  const now = Math.floor(Date.now() / 1000)

  t.test('valid token: accepted with username empty, the user id or the username', async (t) => {
    for (const username of ['', alice.id, 'alice']) {
      const client = await app.mqtt(alice.token, { username })
      t.ok(client.connected, `username ${JSON.stringify(username)} accepted`)
    }
  })

  t.test('over WebSocket too', async (t) => {
    const client = await app.mqtt(alice.token, { ws: true })
    t.ok(client.connected)
    t.equal(await refusedWith(app.mqtt('not-a-token', { ws: true })), 4, 'bad token refused over WebSocket')
  })

  const wrongKey = (await generateKeyPair('ES256')).privateKey
  const cases: Array<[string, () => Promise<string>, number, string?]> = [
    ['missing token (empty password)', async () => '', 4],
    ['malformed token', async () => 'garbage.token.here', 4],
    ['tampered payload', async () => {
      const [h, , s] = alice.token.split('.')
      return `${h}.${base64url({ sub: 'someone-else', username: 'x', iss: 'mqchat', aud: 'mqchat', exp: now + 600, iat: now })}.${s}`
    }, 4],
    ['alg none', async () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub: alice.id, username: 'alice', iss: 'mqchat', aud: 'mqchat', exp: now + 600, iat: now })}.`, 4],
    ['HS256 signed with a guessable secret', async () => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(alice.id)
      .setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode('secret')), 4],
    ['signed by another key', async () => new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setSubject(alice.id)
      .setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime('10m').sign(wrongKey), 4],
    ['expired', async () => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: services.signingKey.kid }).setSubject(alice.id)
      .setIssuer('mqchat').setAudience('mqchat').setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(services.signingKey.privateKey), 4],
    ['wrong audience', async () => new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setSubject(alice.id)
      .setIssuer('mqchat').setAudience('someone-else').setIssuedAt().setExpirationTime('10m').sign(services.signingKey.privateKey), 4],
    ['wrong issuer', async () => new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setSubject(alice.id)
      .setIssuer('evil').setAudience('mqchat').setIssuedAt().setExpirationTime('10m').sign(services.signingKey.privateKey), 4],
    ['valid token, username naming another user', async () => alice.token, 4, 'mallory'],
  ]
  for (const [name, token, code, username] of cases) {
    t.test(`refused: ${name}`, async (t) => {
      t.equal(await refusedWith(app.mqtt(await token(), { username: username ?? '' })), code, `CONNACK return code ${code}`)
    })
  }

  t.test('a connection is closed when its token expires', async (t) => {
    const shortLived = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: services.signingKey.kid }).setSubject(alice.id)
      .setIssuer('mqchat').setAudience('mqchat').setIssuedAt().setExpirationTime(now + 3).sign(services.signingKey.privateKey)
    const client = await app.mqtt(shortLived)
    const connectedAt = Date.now()
    await new Promise<void>((resolve) => client.once('close', () => resolve()))
    const lived = Date.now() - connectedAt
    t.ok(lived < 8000, `closed ${lived} ms after connecting, at the token's expiry (3 s after it was signed)`)
    t.equal(await refusedWith(app.mqtt(shortLived)), 4, 'and the expired token cannot reconnect')
  })

  t.test('refused with 5: a valid token of a disabled account', async (t) => {
    const bob = await app.user('bob')
    await app.node.database.db.updateTable('users').set({ disabled: true }).where('id', '=', bob.id).execute()
    t.equal(await refusedWith(app.mqtt(bob.token)), 5)
  })

  t.test('the refusals were logged without the tokens', async (t) => {
    const log = app.logLines.join('\n')
    t.match(log, /mqtt connect refused/)
    t.notOk(log.includes(alice.token), 'the access token never appears in the log')
    t.notOk(log.includes('password-alice'), 'the password never appears in the log')
  })
})
