import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { newConnectionId } from '../../shared/ids.ts'

// (newId is tested with the topics it appears in: topics.test.ts.)
t.test('newConnectionId: a random UUID, each one new', async (t) => {
  const ids = Array.from({ length: 10_000 }, () => newConnectionId())
  t.ok(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)), 'every one a version 4 UUID')
  t.equal(new Set(ids).size, ids.length, '10,000 distinct')
})

// Every idle connection keeps two ids. randomUUID's own text is a tree of string pieces (about 490 bytes
// here); a flat 36-character string takes under 100. Counted after full collections, not timed.
t.test('newConnectionId: an id kept costs the memory of a flat string', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const heapAfterGc = () => {
    gc()
    gc()
    return process.memoryUsage().heapUsed
  }
  const before = heapAfterGc()
  const kept = Array.from({ length: 20_000 }, () => newConnectionId())
  const perId = (heapAfterGc() - before) / kept.length
  t.ok(perId < 200, `${perId.toFixed(0)} bytes per id kept (randomUUID's own text: about 490)`)
  t.equal(kept.length, 20_000)
})
