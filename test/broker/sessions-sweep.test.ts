import type { Client } from 'aedes'
import t from 'tap'
import { Sessions } from '../../broker/sessions.ts'
import { sleep } from '../helpers/node.ts'

/** Stands in for an Aedes client: the sweep only ever calls `close()` on it. */
function closable() {
  const client = { closes: 0, close() { client.closes++ } }
  return client
}

t.test('the sweep closes a client once its token has expired, and forgets an ended one', async (t) => {
  const sessions = new Sessions()
  t.teardown(() => sessions.close())
  const expiring = closable()
  const ended = closable()
  sessions.start(expiring as unknown as Client, { userId: 'u1', username: 'alice' }, Date.now() + 200)
  sessions.start(ended as unknown as Client, { userId: 'u2', username: 'bob' }, Date.now() + 200)
  t.match(sessions.get(ended as unknown as Client), { userId: 'u2', username: 'bob' }, 'a started client is known by its user')
  sessions.end(ended as unknown as Client)
  t.equal(sessions.get(ended as unknown as Client), undefined, 'an ended client is forgotten')
  await sleep(2200)
  t.equal(expiring.closes, 1, 'the expired client was closed, once')
  t.equal(ended.closes, 0, 'the ended one was not')
})

t.test('close() stops the sweep: no client is closed after it', async (t) => {
  const sessions = new Sessions()
  const client = closable()
  sessions.start(client as unknown as Client, { userId: 'u1', username: 'alice' }, Date.now() + 200)
  sessions.close()
  await sleep(2200)
  t.equal(client.closes, 0)
})
