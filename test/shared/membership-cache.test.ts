import t from 'tap'
import { MembershipCache } from '../../shared/chat/membership-cache.ts'
import { RoomStore } from '../../shared/stores/room-store.ts'
import { startTestNode } from '../helpers/node.ts'

t.test('the membership cache', async (t) => {
  const app = await startTestNode(t)
  const db = app.node.database.db
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const roomFor = async (other: string) => (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: other } })).body.room.id as string
  const [withBob, withCarol] = [await roomFor(bob.id), await roomFor(carol.id)]
  let now = 0
  const cache = new MembershipCache(new RoomStore(db), { maxRooms: 1, ttlMs: 1000 }, () => now)

  t.equal(cache.isFresh(withBob), false, 'not fresh before it is loaded')
  t.equal(await cache.isMember(withBob, bob.id), true, 'a member')
  t.equal(cache.isFresh(withBob), true, 'fresh once loaded')
  t.equal(await cache.isMember(withBob, carol.id), false, 'a non-member')
  t.equal(cache.knownNonMember(withBob, carol.id), true, 'known non-member, synchronously')
  t.equal(cache.knownNonMember(withBob, bob.id), false)

  await db.deleteFrom('room_members').where('room_id', '=', withBob).where('user_id', '=', bob.id).execute()
  t.equal(await cache.isMember(withBob, bob.id), true, 'within the TTL the cached answer stands')
  now += 1001
  t.equal(cache.isFresh(withBob), false, 'not fresh after the TTL')
  const reading = cache.isMember(withBob, bob.id)
  t.equal(cache.isFresh(withBob), false, 'nor while it is read again')
  t.equal(await reading, false, 'after the TTL it is read again')
  t.equal(cache.isFresh(withBob), true, 'fresh again once read')

  t.equal(await cache.isMember(withCarol, carol.id), true)
  t.equal(cache.knownNonMember(withBob, carol.id), false, 'with maxRooms 1, loading a second room evicted the first')
  t.equal(await cache.isMember('NoSuchRoom00', bob.id), false, 'a room that does not exist has no members')
})

t.test('membership changes reach the cache at once, also while it reloads', async (t) => {
  const app = await startTestNode(t)
  const db = app.node.database.db
  const [alice, bob, carol] = await Promise.all([app.user('alice'), app.user('bob'), app.user('carol')])
  const room = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds: [bob.id] } })).body.room.id as string
  let now = 0
  const cache = new MembershipCache(new RoomStore(db), { maxRooms: 10, ttlMs: 1000 }, () => now)

  t.equal(cache.knownNonMember(room, carol.id), false, 'an unknown room is let through once...')
  await cache.members(room)
  t.equal(cache.knownNonMember(room, carol.id), true, '...and loaded for the next delivery')

  cache.apply({ roomId: room, added: [carol.id], removed: [bob.id], deleted: false })
  t.equal(cache.knownNonMember(room, bob.id), true, 'a removal applies synchronously')
  t.equal(await cache.isMember(room, carol.id), true, 'an addition too')

  now += 1001
  const reloading = cache.members(room)
  t.equal(cache.knownNonMember(room, bob.id), true, 'while an expired room reloads, the maintained set still answers')
  // The reload read the rows, which still have bob and not carol: the change made meanwhile is applied to its answer.
  cache.apply({ roomId: room, added: [carol.id], removed: [bob.id], deleted: false })
  const members = await reloading
  t.same([members.has(bob.id), members.has(carol.id)], [false, true], 'a change made during the reload is not lost')

  cache.apply({ roomId: room, added: [], removed: [], deleted: true })
  t.equal(cache.knownNonMember(room, alice.id), true, 'a deleted room has no members')
})

t.test('a removal is remembered for a room the cache does not hold', async (t) => {
  const app = await startTestNode(t)
  const db = app.node.database.db
  const [alice, bob] = await Promise.all([app.user('alice'), app.user('bob')])
  const room = async () => (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'group', name: 'g', memberIds: [bob.id] } })).body.room.id as string
  const [first, second] = [await room(), await room()]
  const cache = new MembershipCache(new RoomStore(db), { maxRooms: 1, ttlMs: 60_000 })
  await cache.members(first)
  await cache.members(second)
  cache.apply({ roomId: first, added: [], removed: [bob.id], deleted: false })
  t.equal(cache.knownNonMember(first, bob.id), true, 'the evicted room refuses the removed member at once')
  t.equal(cache.knownNonMember(first, alice.id), false, 'and no one else')
  cache.apply({ roomId: first, added: [bob.id], removed: [], deleted: false })
  await cache.members(second)
  t.equal(cache.knownNonMember(first, bob.id), false, 'until he is added again')
})
