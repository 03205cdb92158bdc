import t from 'tap'
import { newConnectionId } from '../../shared/ids.ts'

// (newId is tested with the topics it appears in: topics.test.ts.)
t.test('newConnectionId: a random UUID, each one new', async (t) => {
  const ids = Array.from({ length: 10_000 }, () => newConnectionId())
  t.ok(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)), 'every one a version 4 UUID')
  t.equal(new Set(ids).size, ids.length, '10,000 distinct')
})
