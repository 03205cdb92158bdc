import t from 'tap'
import { newConnectionId } from '../../shared/ids.ts'

// (newId is tested with the topics it appears in: topics.test.ts.)
t.test('newConnectionId: 16 URL-safe characters (96 bits), each one new', async (t) => {
  const ids = Array.from({ length: 10_000 }, () => newConnectionId())
  t.ok(ids.every((id) => /^[A-Za-z0-9_-]{16}$/.test(id)), 'every one has 16 base64url characters')
  t.equal(new Set(ids).size, ids.length, '10,000 distinct')
})
