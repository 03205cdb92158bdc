import t from 'tap'
import { loadConfig } from '../../shared/config.ts'
import { sleep, startTestNode, type TestNode } from '../helpers/node.ts'
import { onlyWithPostgres, onlyWithRedis, postgresUrl, redisPrefix, redisUrl } from '../helpers/services.ts'
import { expectThrottled } from '../helpers/throttled.ts'

/*
 * ROOM_CHANGES_PER_MINUTE / ROOM_CHANGES_BURST. startTestNode relaxes them for every other test; each
 * test here sets the limit it checks, which overrides that.
 */
type User = { id: string; token: string }

const createGroup = (app: TestNode, owner: User, name: string, memberIds: string[] = []) =>
  app.http('POST', '/v1/rooms', { token: owner.token, body: { type: 'group', name, memberIds } })
const openDirect = (app: TestNode, user: User, other: User) => app.http('POST', '/v1/rooms', { token: user.token, body: { type: 'direct', userId: other.id } })

t.test('defaults', async (t) => {
  const config = loadConfig({})
  t.equal(config.ROOM_CHANGES_BURST, 20)
  t.equal(config.ROOM_CHANGES_PER_MINUTE, 30)
})

t.test('creating rooms: refused over the burst, per user, refilled', async (t) => {
  const app = await startTestNode(t, { ROOM_CHANGES_BURST: '3', ROOM_CHANGES_PER_MINUTE: '12' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  for (let i = 1; i <= 3; i++) t.equal((await createGroup(app, alice, `group ${i}`, [bob.id])).status, 201, `group ${i}`)
  const retryAfterMs = expectThrottled(t, await createGroup(app, alice, 'group 4', [bob.id]), 'a 4th group')
  t.ok(retryAfterMs <= 5000, `one change every 5 s refills: retry in ${retryAfterMs} ms`)
  expectThrottled(t, await openDirect(app, alice, bob), 'a new direct room counts too')
  const rooms = (await app.http('GET', '/v1/rooms', { token: bob.token })).body.rooms
  t.equal(rooms.length, 3, 'the refused rooms were not made')
  t.equal((await createGroup(app, bob, 'bob\'s group')).status, 201, 'another user has a bucket of their own')
  await sleep(retryAfterMs + 50)
  t.equal((await createGroup(app, alice, 'group 4', [bob.id])).status, 201, 'after the refill')
})

t.test('opening a direct room that exists spends nothing', async (t) => {
  const app = await startTestNode(t, { ROOM_CHANGES_BURST: '3', ROOM_CHANGES_PER_MINUTE: '1' })
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  t.equal((await openDirect(app, alice, bob)).status, 201, 'made: one change')
  for (let i = 1; i <= 5; i++) t.equal((await openDirect(app, alice, bob)).status, 200, `opened again (${i})`)
  t.equal((await openDirect(app, alice, carol)).status, 201, 'a second direct room: two changes')
  t.equal((await createGroup(app, alice, 'third')).status, 201, 'a group: three changes')
  expectThrottled(t, await createGroup(app, alice, 'fourth'), 'the 4th change')
  t.equal((await openDirect(app, alice, bob)).status, 200, 'opening an existing one still works when out of changes')
})

t.test('refused requests and requests that change nothing spend nothing', async (t) => {
  const app = await startTestNode(t, { ROOM_CHANGES_BURST: '2', ROOM_CHANGES_PER_MINUTE: '1' })
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = (await createGroup(app, alice, 'team', [bob.id])).body.room.id
  const unknown = 'A'.repeat(12)
  for (let i = 1; i <= 3; i++) {
    t.equal((await createGroup(app, alice, 'with a stranger', [unknown])).status, 404, `a group with an unknown member (${i}): user_not_found`)
    t.equal((await openDirect(app, alice, { id: unknown, token: '' })).status, 404, `a direct room with an unknown user (${i})`)
    t.equal((await app.http('POST', `/v1/rooms/${room}/members`, { token: alice.token, body: { userIds: [unknown] } })).status, 404, `adding an unknown user (${i})`)
    t.equal((await app.http('POST', `/v1/rooms/${room}/members`, { token: alice.token, body: { userIds: [bob.id] } })).body.addedUserIds?.length, 0, `adding a member already in (${i})`)
    t.equal((await app.http('PATCH', `/v1/rooms/${room}`, { token: alice.token, body: { name: 'team' } })).status, 200, `renaming to the same name (${i})`)
    t.equal((await app.http('PUT', `/v1/rooms/${room}/members/${bob.id}/role`, { token: alice.token, body: { role: 'member' } })).status, 200, `a role bob already has (${i})`)
    t.equal((await app.http('PATCH', `/v1/rooms/${room}`, { token: bob.token, body: { name: 'mine' } })).status, 403, `bob may not rename (${i}): forbidden, and bob's budget is kept too`)
  }
  t.equal((await app.http('PATCH', `/v1/rooms/${room}`, { token: alice.token, body: { name: 'team 2' } })).status, 200, 'alice\'s second change')
  expectThrottled(t, await app.http('PATCH', `/v1/rooms/${room}`, { token: alice.token, body: { name: 'team 3' } }), 'her third')
  t.equal((await createGroup(app, bob, 'one')).status, 201, 'bob\'s first change')
  t.equal((await createGroup(app, bob, 'two')).status, 201, 'bob\'s second change')
})

t.test('renaming, adding, removing and roles count; leaving and deleting do not', async (t) => {
  const app = await startTestNode(t, { ROOM_CHANGES_BURST: '6', ROOM_CHANGES_PER_MINUTE: '1' })
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const spare = await createGroup(app, alice, 'spare')
  t.equal(spare.status, 201, 'change 1: create a spare group')
  const created = await createGroup(app, alice, 'team', [bob.id])
  t.equal(created.status, 201, 'change 2: create')
  const room = created.body.room.id
  t.equal((await app.http('PATCH', `/v1/rooms/${room}`, { token: alice.token, body: { name: 'team 2' } })).status, 200, 'change 3: rename')
  t.equal((await app.http('POST', `/v1/rooms/${room}/members`, { token: alice.token, body: { userIds: [carol.id] } })).status, 200, 'change 4: add')
  t.equal((await app.http('PUT', `/v1/rooms/${room}/members/${bob.id}/role`, { token: alice.token, body: { role: 'admin' } })).status, 200, 'change 5: role')
  t.equal((await app.http('DELETE', `/v1/rooms/${room}/members/${carol.id}`, { token: alice.token })).status, 204, 'change 6: remove')
  expectThrottled(t, await app.http('PATCH', `/v1/rooms/${room}`, { token: alice.token, body: { name: 'team 3' } }), 'a 7th change (rename)')
  expectThrottled(t, await app.http('POST', `/v1/rooms/${room}/members`, { token: alice.token, body: { userIds: [carol.id] } }), 'add')
  expectThrottled(t, await app.http('PUT', `/v1/rooms/${room}/members/${bob.id}/role`, { token: alice.token, body: { role: 'member' } }), 'role')
  t.equal((await app.http('GET', `/v1/rooms/${room}`, { token: bob.token })).body.room.name, 'team 2', 'the refused rename changed nothing')

  t.equal((await app.http('DELETE', `/v1/rooms/${spare.body.room.id}`, { token: alice.token })).status, 204, 'alice can still delete a room she owns')
  t.equal((await app.http('DELETE', `/v1/rooms/${room}/members/${alice.id}`, { token: alice.token })).status, 204, 'and leave one')
  t.equal((await app.http('DELETE', `/v1/rooms/${room}`, { token: bob.token })).status, 204, 'bob, the new owner, can delete it')
  t.equal((await app.http('GET', '/v1/rooms', { token: bob.token })).body.rooms.length, 0, 'gone')
})

t.test('with REDIS_URL the nodes of a cluster share the buckets', { skip: onlyWithRedis().skip || onlyWithPostgres().skip }, async (t) => {
  postgresUrl(t)
  const url = redisUrl(t)
  const env = { REDIS_URL: url, REDIS_KEY_PREFIX: redisPrefix(t, url), ROOM_CHANGES_BURST: '4', ROOM_CHANGES_PER_MINUTE: '1' }
  const nodeA = await startTestNode(t, env)
  const nodeB = await startTestNode(t, env, nodeA)
  const alice = await nodeA.user('alice')
  for (let i = 1; i <= 4; i++) t.equal((await createGroup(i % 2 ? nodeA : nodeB, alice, `group ${i}`)).status, 201, `group ${i} on node ${i % 2 ? 'A' : 'B'}`)
  expectThrottled(t, await createGroup(nodeA, alice, 'group 5'), 'node A, after four changes over both nodes')
  expectThrottled(t, await createGroup(nodeB, alice, 'group 5'), 'node B too')
})
