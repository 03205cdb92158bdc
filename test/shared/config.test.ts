import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { CONFIG_SPEC, ConfigError, loadConfig } from '../../shared/config.ts'

/** The ConfigError loadConfig throws for `env`, or a test failure if it does not throw one. */
function configError(t: Test, env: Record<string, string | undefined>): ConfigError | undefined {
  try {
    loadConfig(env)
  } catch (err) {
    t.type(err, ConfigError, 'throws a ConfigError')
    return err as ConfigError
  }
  t.fail(`loadConfig(${JSON.stringify(env)}) did not throw`)
  return undefined
}

t.test('loadConfig({}) gives the documented defaults', async (t) => {
  const config = loadConfig({})
  t.equal(config.HOST, '0.0.0.0')
  t.equal(config.MQTT_PORT, 1883)
  t.equal(config.WS_PORT, 8080)
  t.equal(config.WS_PATH, '/mqtt')
  t.equal(config.HTTP_PORT, 3000)
  t.equal(config.DATABASE_URL, undefined, 'no DATABASE_URL: embedded PGlite')
  t.equal(config.DATABASE_SCHEMA, undefined)
  t.equal(config.DATABASE_POOL_MAX, 10)
  t.equal(config.DATA_DIR, './data')
  t.equal(config.REDIS_URL, undefined)
  t.equal(config.LOG_LEVEL, 'info')
  t.equal(config.JWT_PRIVATE_KEY, undefined)
  t.equal(config.JWT_ISSUER, 'mqchat')
  t.equal(config.JWT_AUDIENCE, 'mqchat')
  t.equal(config.JWT_TTL_SECONDS, 3600)
  t.equal(config.PASSWORD_SCRYPT_COST, 32768)
  t.equal(config.MESSAGE_MAX_BYTES, 4096)
  t.equal(config.ROOM_MAX_MEMBERS, 1000)
  t.equal(config.HTTP_BODY_MAX_BYTES, 65536)
  t.equal(config.HISTORY_PAGE_MAX, 100)
  t.equal(config.WRITE_BATCH_MAX, 256)
  t.equal(config.WRITE_QUEUE_MAX, 10000)
  t.equal(config.MEMBERSHIP_CACHE_ROOMS, 10000)
  t.equal(config.MEMBERSHIP_CACHE_TTL_MS, 30000)
  t.same(Object.keys(config).sort(), Object.keys(CONFIG_SPEC).sort(), 'one field per CONFIG_SPEC entry')
})

t.test('good values are parsed and coerced', async (t) => {
  const config = loadConfig({
    MQTT_PORT: '0', HTTP_PORT: '65535', DATABASE_URL: 'postgres://u:p@db:5432/chat', REDIS_URL: 'rediss://cache:6380',
    PASSWORD_SCRYPT_COST: '1024', LOG_LEVEL: 'silent', DATABASE_SCHEMA: 'chat_1', WS_PATH: '/ws',
  })
  t.equal(config.MQTT_PORT, 0, '0 (any free port) is allowed')
  t.equal(config.HTTP_PORT, 65535)
  t.equal(config.DATABASE_URL, 'postgres://u:p@db:5432/chat')
  t.equal(config.REDIS_URL, 'rediss://cache:6380')
  t.equal(config.PASSWORD_SCRYPT_COST, 1024)
  t.equal(config.LOG_LEVEL, 'silent')
  t.equal(config.DATABASE_SCHEMA, 'chat_1')
  t.equal(config.WS_PATH, '/ws')
  t.equal(loadConfig({ DATABASE_URL: 'postgresql://localhost/x' }).DATABASE_URL, 'postgresql://localhost/x', 'postgresql: scheme too')
})

const BAD: Array<[string, string]> = [
  ['MQTT_PORT', '70000'],
  ['MQTT_PORT', 'abc'],
  ['MQTT_PORT', '-1'],
  ['MQTT_PORT', '1.5'],
  ['HTTP_PORT', '65536'],
  ['WS_PORT', 'eighty'],
  ['WS_PATH', 'mqtt'],
  ['DATABASE_URL', 'http://x'],
  ['DATABASE_URL', 'not a url'],
  ['DATABASE_SCHEMA', 'Bad-Schema'],
  ['DATABASE_POOL_MAX', '0'],
  ['REDIS_URL', 'http://cache:6379'],
  ['PASSWORD_SCRYPT_COST', '1000'],
  ['PASSWORD_SCRYPT_COST', '3000'],
  ['PASSWORD_SCRYPT_COST', '512'],
  ['LOG_LEVEL', 'loud'],
  ['JWT_TTL_SECONDS', '-5'],
  ['MESSAGE_MAX_BYTES', '0'],
  ['HISTORY_PAGE_MAX', 'many'],
  ['WRITE_BATCH_MAX', '5001'],
]

for (const [name, value] of BAD) {
  t.test(`${name}=${value} is refused with a ConfigError naming ${name}`, async (t) => {
    const err = configError(t, { [name]: value })
    t.match(err?.message, new RegExp(`\\b${name}\\b`), 'message names the variable')
    const others = Object.keys(CONFIG_SPEC).filter((k) => k !== name && !name.startsWith(k) && !k.startsWith(name))
    for (const other of others) t.notMatch(err?.message, new RegExp(`\\b${other}=`), `does not blame ${other}`)
  })
}

t.test('several bad values are all named in one error', async (t) => {
  const err = configError(t, { MQTT_PORT: '70000', DATABASE_URL: 'http://x', PASSWORD_SCRYPT_COST: '1000', LOG_LEVEL: 'loud', HTTP_PORT: 'abc' })
  for (const name of ['MQTT_PORT', 'DATABASE_URL', 'PASSWORD_SCRYPT_COST', 'LOG_LEVEL', 'HTTP_PORT']) {
    t.match(err?.message, new RegExp(`\\b${name}\\b`), `names ${name}`)
  }
  t.notMatch(err?.message, /\bWS_PORT\b/, 'does not name a good variable')
})

t.test('group-commit concurrency must leave the pool a connection for reads', async (t) => {
  const err = configError(t, { WRITE_CONCURRENCY: '4', DATABASE_POOL_MAX: '4' })
  t.match(err?.message, /WRITE_CONCURRENCY must be below DATABASE_POOL_MAX/)
  t.equal(loadConfig({ WRITE_CONCURRENCY: '3', DATABASE_POOL_MAX: '4' }).WRITE_CONCURRENCY, 3, 'one below the pool is accepted')
})

t.test('empty strings count as unset', async (t) => {
  const empty = Object.fromEntries(Object.keys(CONFIG_SPEC).map((k) => [k, '']))
  t.same(loadConfig(empty), loadConfig({}), 'every variable empty gives the defaults')
  const config = loadConfig({ MQTT_PORT: '', DATABASE_URL: '', LOG_LEVEL: '', PASSWORD_SCRYPT_COST: '' })
  t.equal(config.MQTT_PORT, 1883, 'empty port is the default, not 0')
  t.equal(config.DATABASE_URL, undefined)
  t.equal(config.LOG_LEVEL, 'info')
  t.equal(config.PASSWORD_SCRYPT_COST, 32768)
})

t.test('every CONFIG_SPEC key appears in README.md as `NAME`', async (t) => {
  const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url))
  let readme: string
  try {
    readme = readFileSync(readmePath, 'utf8')
  } catch (err) {
    t.fail(`README.md cannot be read at ${readmePath}: ${(err as Error).message}`)
    return
  }
  for (const name of Object.keys(CONFIG_SPEC)) {
    t.ok(readme.includes(`\`${name}\``), `README.md documents \`${name}\``)
  }
})

t.test('a bad value of a variable that may hold credentials is named but never printed', async (t) => {
  const env = { DATABASE_URL: 'mysql://app:S3cretPassw0rd@db/chat', REDIS_URL: 'http://user:R3disSecret@cache', JWT_PRIVATE_KEY: '' }
  const err = configError(t, env)
  t.match(err?.message, /DATABASE_URL=\(value hidden\)/)
  t.match(err?.message, /REDIS_URL=\(value hidden\)/)
  t.notMatch(err?.message, /S3cretPassw0rd|R3disSecret/, 'no secret in the message')
})
