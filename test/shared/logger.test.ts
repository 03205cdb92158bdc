import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger, withoutSecrets } from '../../shared/logger.ts'

/** A logger at trace level whose lines are collected, parsed. */
function collectingLogger() {
  const lines: Array<Record<string, any>> = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { log: createLogger('trace', destination), lines }
}

t.test('secret keys are censored at the top, nested, and in request headers; the logged object is not changed', async (t) => {
  const { log, lines } = collectingLogger()
  const logged = {
    password: 'hunter2', userId: 'u1',
    body: { username: 'alice', password: 'hunter3', accessToken: 'eyJ.a.b' },
    req: { method: 'GET', headers: { authorization: 'Bearer eyJ.c.d', host: 'h' } },
    headers: Object.assign(Object.create(null), { authorization: 'Bearer eyJ.e.f' }),
    key: { privateKey: 'pem' }, session: { token: 't0k' },
  }
  const before = structuredClone({ ...logged, headers: { ...logged.headers } })
  log.info(logged, 'something')
  const line = lines[0]!
  t.match(line, {
    msg: 'something', password: '[redacted]', userId: 'u1',
    body: { username: 'alice', password: '[redacted]', accessToken: '[redacted]' },
    req: { method: 'GET', headers: { authorization: '[redacted]', host: 'h' } },
    headers: { authorization: '[redacted]' }, key: { privateKey: '[redacted]' }, session: { token: '[redacted]' },
  })
  for (const secret of ['hunter2', 'hunter3', 'eyJ', 'pem', 't0k']) t.notOk(JSON.stringify(line).includes(secret), `${secret} is not in the line`)
  t.same({ ...logged, headers: { ...logged.headers } }, before, "the caller's object still holds its values")
})

t.test('an object without secrets is logged as it is, and is not copied', async (t) => {
  const plain = { connectionId: 'c1', clientId: 'u1:phone', nested: { a: 1, deeper: { b: [1, 2] } }, when: new Date(0) }
  t.equal(withoutSecrets(plain), plain, 'the same object comes back')
  const { log, lines } = collectingLogger()
  log.info(plain, 'connected')
  t.match(lines[0], { connectionId: 'c1', clientId: 'u1:phone', nested: { a: 1, deeper: { b: [1, 2] } }, when: '1970-01-01T00:00:00.000Z' })
})

t.test('the search stops at its depth, and an undefined secret stays undefined', async (t) => {
  const deep = { a: { b: { c: { password: 'too deep' } } }, token: undefined }
  t.equal(withoutSecrets(deep), deep, 'four levels down is not searched')
  t.same(withoutSecrets({ a: { b: { password: 'x' } } }), { a: { b: { password: '[redacted]' } } }, 'three levels down is')
})
