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

  t.equal(await cache.isMember(withBob, bob.id), true, 'a member')
  t.equal(await cache.isMember(withBob, carol.id), false, 'a non-member')
  t.equal(cache.knownNonMember(withBob, carol.id), true, 'known non-member, synchronously')
  t.equal(cache.knownNonMember(withBob, bob.id), false)

  await db.deleteFrom('room_members').where('room_id', '=', withBob).where('user_id', '=', bob.id).execute()
  t.equal(await cache.isMember(withBob, bob.id), true, 'within the TTL the cached answer stands')
  now += 1001
  t.equal(await cache.isMember(withBob, bob.id), false, 'after the TTL it is read again')

  t.equal(await cache.isMember(withCarol, carol.id), true)
  t.equal(cache.knownNonMember(withBob, carol.id), false, 'with maxRooms 1, loading a second room evicted the first')
  t.equal(await cache.isMember('NoSuchRoom00', bob.id), false, 'a room that does not exist has no members')
})
