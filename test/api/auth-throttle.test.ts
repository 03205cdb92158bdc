import t from 'tap'
import { addressKey } from '../../shared/limits/auth-throttle.ts'
import { loadConfig } from '../../shared/config.ts'
import { sleep, startTestNode, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisPrefix, redisUrl } from '../helpers/services.ts'
import { expectThrottled } from '../helpers/throttled.ts'

/*
 * The login and registration throttles. startTestNode relaxes them for every other test (all test
 * users come from 127.0.0.1); each test here sets the limits it checks explicitly, which override that.
 * Failures have a generous budget by default so that only the limit under test can trip.
 */
const HIGH = '100000'

const login = (app: TestNode, username: string, password: string) => app.http('POST', '/v1/auth/login', { body: { username, password } })
const register = (app: TestNode, username: string) => app.http('POST', '/v1/auth/register', { body: { username, password: `password-${username}` } })

t.test('defaults suit a product: a few failures per username, more per address', async (t) => {
  const config = loadConfig({})
  t.equal(config.LOGIN_FAILURES_PER_USERNAME_BURST, 10)
  t.equal(config.LOGIN_FAILURES_PER_USERNAME_PER_MINUTE, 2, 'a throttled username waits at most 30 s once failures stop')
  t.equal(config.LOGIN_FAILURES_PER_IP_BURST, 30)
  t.equal(config.LOGIN_FAILURES_PER_IP_PER_MINUTE, 10)
  t.equal(config.REGISTRATIONS_PER_IP_BURST, 20)
  t.equal(config.REGISTRATIONS_PER_IP_PER_MINUTE, 2)
})

t.test('failed logins per username: refused before the password is checked, refilled, successes free', async (t) => {
  const app = await startTestNode(t, {
    LOGIN_FAILURES_PER_USERNAME_BURST: '3', LOGIN_FAILURES_PER_USERNAME_PER_MINUTE: '60',
    LOGIN_FAILURES_PER_IP_BURST: HIGH, LOGIN_FAILURES_PER_IP_PER_MINUTE: HIGH,
  })
  await app.user('alice')
  await app.user('bob')

  for (let i = 0; i < 10; i++) t.equal((await login(app, 'bob', 'password-bob')).status, 200, `bob's login ${i + 1}: successes do not count`)

  for (let i = 0; i < 3; i++) t.equal((await login(app, i === 1 ? 'ALICE' : 'alice', `guess-${i}-xxxx`)).status, 401, `wrong password ${i + 1}: invalid_credentials`)
  expectThrottled(t, await login(app, 'alice', 'guess-3-xxxx'), 'the 4th wrong password')
  const retryAfterMs = expectThrottled(t, await login(app, 'Alice', 'password-alice'), 'even the right password (any case of the username)')
  t.ok(retryAfterMs <= 1000, `one failure a second refills: retry in ${retryAfterMs} ms`)
  t.equal((await login(app, 'bob', 'password-bob')).status, 200, 'another username is not affected')
  t.equal((await login(app, 'nobody', 'guess-xxxx')).status, 401, 'an unknown username has its own bucket')

  await sleep(retryAfterMs + 50)
  t.equal((await login(app, 'alice', 'password-alice')).status, 200, 'once the bucket refills the right password works: no long lock-out')
})

t.test('parallel guesses cannot pass before the first failures are counted', async (t) => {
  const app = await startTestNode(t, {
    LOGIN_FAILURES_PER_USERNAME_BURST: '3', LOGIN_FAILURES_PER_USERNAME_PER_MINUTE: '1',
    LOGIN_FAILURES_PER_IP_BURST: HIGH, LOGIN_FAILURES_PER_IP_PER_MINUTE: HIGH,
  })
  await app.user('alice')
  const statuses = (await Promise.all(Array.from({ length: 20 }, (_, i) => login(app, 'alice', `guess-${i}-xxxx`)))).map((r) => r.status)
  t.equal(statuses.filter((s) => s === 401).length, 3, `only the burst (3) is checked: ${statuses.join(' ')}`)
  t.equal(statuses.filter((s) => s === 429).length, 17, 'the rest are refused')
})

t.test('failed logins per client address, whatever the username', async (t) => {
  const app = await startTestNode(t, {
    LOGIN_FAILURES_PER_IP_BURST: '4', LOGIN_FAILURES_PER_IP_PER_MINUTE: '1',
    LOGIN_FAILURES_PER_USERNAME_BURST: HIGH, LOGIN_FAILURES_PER_USERNAME_PER_MINUTE: HIGH,
  })
  await app.user('alice')
  for (let i = 0; i < 3; i++) t.equal((await login(app, `user${i}`, 'guess-xxxx')).status, 401, `a guess at user${i}`)
  t.equal((await login(app, 'alice', 'password-alice')).status, 200, 'a success in between does not count')
  t.equal((await login(app, 'user3', 'guess-xxxx')).status, 401, 'the 4th failure from the address')
  const retryAfterMs = expectThrottled(t, await login(app, 'user4', 'guess-xxxx'), 'a 5th username from the same address')
  t.ok(retryAfterMs > 50_000 && retryAfterMs <= 60_000, `one failure a minute refills: retry in ${retryAfterMs} ms`)
  const invalid = await app.http('POST', '/v1/auth/login', { body: { username: 'alice' } })
  t.equal(invalid.status, 400, 'a malformed body is still refused for what it is')
})

t.test('registrations per client address; invalid ones do not count', async (t) => {
  const app = await startTestNode(t, { REGISTRATIONS_PER_IP_BURST: '2', REGISTRATIONS_PER_IP_PER_MINUTE: '1' })
  for (let i = 0; i < 5; i++) t.equal((await app.http('POST', '/v1/auth/register', { body: { username: `x${i}` } })).status, 400, `invalid registration ${i + 1}`)
  t.equal((await register(app, 'alice')).status, 201)
  t.equal((await register(app, 'alice')).status, 409, 'a taken username counts too (it hashed a password)')
  const retryAfterMs = expectThrottled(t, await register(app, 'bob'), 'a 3rd registration')
  t.ok(retryAfterMs > 50_000 && retryAfterMs <= 60_000, `one a minute: retry in ${retryAfterMs} ms`)
  t.equal((await login(app, 'bob', 'password-bob')).status, 401, 'bob was not created')
  t.equal((await login(app, 'alice', 'password-alice')).status, 200, 'logging in is not affected')
})

t.test('with REDIS_URL the nodes of a cluster share the buckets', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  postgresUrl(t)
  const url = redisUrl(t)
  const env = {
    REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url),
    LOGIN_FAILURES_PER_USERNAME_BURST: '4', LOGIN_FAILURES_PER_USERNAME_PER_MINUTE: '1',
    LOGIN_FAILURES_PER_IP_BURST: HIGH, LOGIN_FAILURES_PER_IP_PER_MINUTE: HIGH,
  }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  await nodeA.user('alice')
  for (let i = 0; i < 10; i++) t.equal((await login(i % 2 ? nodeA : nodeB, 'alice', 'password-alice')).status, 200, `success ${i + 1}: put back in Redis too`)
  t.equal((await login(nodeA, 'alice', 'guess-1-xxxx')).status, 401)
  t.equal((await login(nodeB, 'alice', 'guess-2-xxxx')).status, 401)
  t.equal((await login(nodeA, 'alice', 'guess-3-xxxx')).status, 401)
  t.equal((await login(nodeB, 'alice', 'guess-4-xxxx')).status, 401)
  expectThrottled(t, await login(nodeA, 'alice', 'password-alice'), 'node A, after four failures over both nodes')
  expectThrottled(t, await login(nodeB, 'alice', 'password-alice'), 'node B too')
})

t.test('the address key: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64', async (t) => {
  t.equal(addressKey('203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7')
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64', 'another address of the same /64')
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
  t.equal(addressKey(undefined), 'unknown')
})
