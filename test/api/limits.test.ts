import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

t.test('REST limits from config', async (t) => {
  const app = await startTestNode(t, { ROOM_MAX_MEMBERS: '3', HTTP_BODY_MAX_BYTES: '2048', MESSAGE_MAX_BYTES: '100' })
  const [alice, bob, carol, dave] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol'), app.user('dave')])

  const group = (memberIds: string[]) => app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds } })
  t.equal((await group([bob.id, carol.id])).status, 201, 'owner and two members: 3, the limit')
  const tooMany = await group([bob.id, carol.id, dave.id])
  t.equal(tooMany.status, 409)
  t.equal(tooMany.body.error.code, 'room_full')
  t.match(tooMany.body.error.message, /at most 3 members/)

  const big = await app.http('POST', '/v1/auth/login', { rawBody: JSON.stringify({ username: 'alice', password: 'x'.repeat(3000) }) })
  t.equal(big.status, 413, 'a body over HTTP_BODY_MAX_BYTES')
  t.equal(big.body.error.code, 'payload_too_large')

  const room = (await group([bob.id])).body.room.id
  const post = (body: string) => app.http('POST', `/v1/rooms/${room}/messages`, { token: alice.token, body: { id: `m${body.length}`, body } })
  t.equal((await post('é'.repeat(50))).status, 201, '100 bytes of UTF-8: accepted')
  const over = await post('é'.repeat(51))
  t.equal(over.status, 413, '102 bytes: over MESSAGE_MAX_BYTES')
  t.equal(over.body.error.code, 'payload_too_large')
})
