import t from 'tap'
import { TokenService } from '../../shared/auth/tokens.ts'
import { sleep, startTestNode } from '../helpers/node.ts'

t.test('a remembered token is refused once it expires, and only the exact token is remembered', async (t) => {
  const app = await startTestNode(t)
  const tokens = new TokenService(app.node.services.signingKey, { issuer: app.config.JWT_ISSUER, audience: app.config.JWT_AUDIENCE, ttlSeconds: 3 })
  const { token } = await tokens.issue({ userId: 'AAAAAAAAAAAA', username: 'alice' })
  t.match(await tokens.verify(token), { userId: 'AAAAAAAAAAAA', username: 'alice' }, 'verified')
  t.match(await tokens.verify(token), { userId: 'AAAAAAAAAAAA', username: 'alice' }, 'and again, from memory')
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'BBBBBBBBBBBB' })).toString('base64url')}.${signature}`
  await t.rejects(tokens.verify(forged), { code: 'unauthenticated' }, 'a token with another payload and the remembered signature is verified afresh, and refused')
  // Expiry is in whole seconds: 3 s leaves the first checks at least 2 s, even on a loaded machine.
  await sleep(4100)
  await t.rejects(tokens.verify(token), { code: 'unauthenticated' }, 'past its expiry the remembered token is refused')
})
