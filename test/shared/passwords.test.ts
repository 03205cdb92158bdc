import t from 'tap'
import { hashPassword, verifyPassword } from '../../shared/auth/passwords.ts'

const N = 1024

t.test('hash and verify round trip', async (t) => {
  const stored = await hashPassword('correct horse battery staple', N)
  t.equal(await verifyPassword('correct horse battery staple', stored), true, 'the right password verifies')
  t.equal(await verifyPassword('correct horse battery stapl', stored), false, 'a wrong password does not')
  t.equal(await verifyPassword('', stored), false, 'an empty password does not')
  t.equal(await verifyPassword('Correct horse battery staple', stored), false, 'case matters')
})

t.test('unicode passwords round trip', async (t) => {
  const stored = await hashPassword('pässwörd ✓ 密码', N)
  t.equal(await verifyPassword('pässwörd ✓ 密码', stored), true)
  t.equal(await verifyPassword('passwörd ✓ 密码', stored), false)
})

t.test('two hashes of the same password differ (random salt) and both verify', async (t) => {
  const a = await hashPassword('same password', N)
  const b = await hashPassword('same password', N)
  t.not(a, b, 'hashes differ')
  t.not(a.split('$')[4], b.split('$')[4], 'salts differ')
  t.equal(await verifyPassword('same password', a), true)
  t.equal(await verifyPassword('same password', b), true)
})

t.test('the stored string is scrypt$<N>$... and holds no password', async (t) => {
  const password = 'hunter2-hunter2'
  const stored = await hashPassword(password, N)
  t.ok(stored.startsWith(`scrypt$${N}$`), `starts with scrypt$${N}$: ${stored}`)
  t.equal(stored.split('$').length, 6, 'scrypt$N$r$p$salt$hash')
  t.notOk(stored.includes(password), 'does not contain the password')
  t.notOk(stored.includes(Buffer.from(password).toString('base64url')), 'nor its base64url')
  t.notOk(stored.includes(Buffer.from(password).toString('hex')), 'nor its hex')
  const higher = await hashPassword(password, 2048)
  t.ok(higher.startsWith('scrypt$2048$'), 'the cost is recorded')
  t.equal(await verifyPassword(password, higher), true, 'a hash at another cost still verifies')
})

t.test('a hash whose key was altered does not verify', async (t) => {
  const stored = await hashPassword('password1', N)
  const parts = stored.split('$')
  const key = Buffer.from(parts[5]!, 'base64url')
  key[0] = key[0]! ^ 1
  parts[5] = key.toString('base64url')
  t.equal(await verifyPassword('password1', parts.join('$')), false)
  const shortened = [...stored.split('$').slice(0, 5), Buffer.from('abc').toString('base64url')].join('$')
  t.equal(await verifyPassword('password1', shortened), false, 'a key of another length')
})

t.test('a malformed stored hash gives false', async (t) => {
  const good = await hashPassword('password1', N)
  const [, , r, p, salt, hash] = good.split('$')
  const malformed = [
    '',
    'password1',
    'scrypt',
    'scrypt$$$$$',
    `bcrypt$${N}$${r}$${p}$${salt}$${hash}`,
    `scrypt$${N}$${r}$${p}$${salt}`,
    `scrypt$${N}$${r}$${p}$$${hash}`,
  ]
  for (const stored of malformed) {
    t.equal(await verifyPassword('password1', stored), false, `false for ${JSON.stringify(stored)}`)
  }
})

t.test('a stored hash with impossible scrypt parameters gives false, not an exception', async (t) => {
  const good = await hashPassword('password1', N)
  const [, n, r, p, salt, hash] = good.split('$')
  // Node rejects these N and r values; verifyPassword should answer false for them.
  const impossible = [
    `scrypt$abc$${r}$${p}$${salt}$${hash}`,
    `scrypt$1000$${r}$${p}$${salt}$${hash}`,
    `scrypt$-1024$${r}$${p}$${salt}$${hash}`,
    `scrypt$${n}$x$${p}$${salt}$${hash}`,
  ]
  for (const stored of impossible) {
    const result = await verifyPassword('password1', stored).catch((err: Error) => `threw ${err.message}`)
    t.equal(result, false, `false for ${JSON.stringify(stored)}`)
  }
})
