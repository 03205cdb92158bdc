import t, { type Test } from 'tap'
import { startTestNode, type TestNode } from '../helpers/node.ts'

type User = { id: string; token: string }
type Found = { status: number; body: any }

function expectError(t: Test, res: Found, status: number, code: string, what: string) {
  t.equal(res.status, status, `${what}: status ${status}`)
  t.equal(res.body?.error?.code, code, `${what}: error.code ${code}`)
}

let app: TestNode
let sent = 0

async function group(owner: User, members: User[]): Promise<string> {
  const res = await app.http('POST', '/v1/rooms', { token: owner.token, body: { type: 'group', name: 'search', memberIds: members.map((m) => m.id) } })
  if (res.status !== 201) throw new Error(`create room: ${res.status}`)
  return res.body.room.id
}

async function post(from: User, roomId: string, body: string): Promise<{ id: number; roomId: string; createdAt: string }> {
  const res = await app.http('POST', `/v1/rooms/${roomId}/messages`, { token: from.token, body: { id: `m-${++sent}`, body } })
  if (res.status !== 201) throw new Error(`post: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.message
}

/** Searches one room (or every room of the user when `roomId` is undefined). */
function search(as: User | undefined, roomId: string | undefined, params: Record<string, string | number>): Promise<Found> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString()
  const path = roomId ? `/v1/rooms/${roomId}/messages/search?${query}` : `/v1/messages/search?${query}`
  return app.http('GET', path, as ? { token: as.token } : {})
}

const bodies = (res: Found) => (res.body.messages as Array<{ body: string }>).map((m) => m.body)

/** Every page of a search, following `nextCursor` to the end. */
async function allPages(as: User, roomId: string | undefined, q: string, limit: number): Promise<Found[]> {
  const pages: Found[] = []
  let cursor: string | null | undefined
  do {
    const res = await search(as, roomId, cursor ? { q, limit, cursor } : { q, limit })
    if (res.status !== 200) throw new Error(`search: ${res.status} ${JSON.stringify(res.body)}`)
    pages.push(res)
    cursor = res.body.nextCursor
  } while (cursor && pages.length < 20)
  return pages
}

t.test('message search', async (t) => {
  app = await startTestNode(t)
  const alice = await app.user('alice')
  const bob = await app.user('bob')
  const carol = await app.user('carol')
  const dave = await app.user('dave')
  const erin = await app.user('erin')

  t.test('Korean: words inside forms with particles, every word required, no matches across words', async (t) => {
    const room = await group(alice, [bob])
    for (const body of ['내일 회의를 합시다', '회의에서 봐요', '점심 밥을 먹었어요', '학교 교실', '오늘 미팅 없어요', '밥 먹자']) await post(alice, room, body)

    t.same(bodies(await search(bob, room, { q: '회의' })), ['회의에서 봐요', '내일 회의를 합시다'], '회의 in 회의를 and 회의에서, newest first')
    t.same(bodies(await search(bob, room, { q: '회의를' })), ['내일 회의를 합시다'], 'the full form finds only itself')
    t.same(bodies(await search(bob, room, { q: '밥' })), ['밥 먹자', '점심 밥을 먹었어요'], 'one syllable, alone and with a particle')
    t.same(bodies(await search(bob, room, { q: '회의 내일' })), ['내일 회의를 합시다'], 'two words: both must appear')
    t.same(bodies(await search(bob, room, { q: '내일  회의' })), ['내일 회의를 합시다'], 'in any order')
    t.same(bodies(await search(bob, room, { q: '학교' })), ['학교 교실'])
    t.same(bodies(await search(bob, room, { q: '교실' })), ['학교 교실'])
    t.same(bodies(await search(bob, room, { q: '학교실' })), [], '학교실: its grams are all there, but not in one run')
    t.same(bodies(await search(bob, room, { q: '\u1112\u116c\u110b\u1174' })), ['회의에서 봐요', '내일 회의를 합시다'], 'a decomposed query is folded to syllables')
  })

  t.test('English: any case, substrings, every word required', async (t) => {
    const room = await group(alice, [bob])
    for (const body of ['Deployment finished at noon', 'We should DEPLOY tomorrow', 'the deploy-script failed', 'plan a low hot day', 'ＦＵＬＬ ｗｉｄｔｈ release notes']) await post(bob, room, body)

    const deploy = ['the deploy-script failed', 'We should DEPLOY tomorrow', 'Deployment finished at noon']
    t.same(bodies(await search(alice, room, { q: 'deploy' })), deploy, '"deploy" in Deployment, DEPLOY and deploy-script')
    t.same(bodies(await search(alice, room, { q: 'DePloY' })), deploy, 'the query case does not matter')
    t.same(bodies(await search(alice, room, { q: 'deploy tomorrow' })), ['We should DEPLOY tomorrow'], 'two words')
    t.same(bodies(await search(alice, room, { q: 'tomorrow, deploy!' })), ['We should DEPLOY tomorrow'], 'punctuation in the query separates words')
    t.same(bodies(await search(alice, room, { q: 'deployments' })), [], 'longer than any word in the room')
    t.same(bodies(await search(alice, room, { q: 'plan' })), ['plan a low hot day'])
    t.same(bodies(await search(alice, room, { q: 'plot' })), [], '"plot": pl, lo and ot all appear, apart')
    t.same(bodies(await search(alice, room, { q: 'full width' })), ['ＦＵＬＬ ｗｉｄｔｈ release notes'], 'a full-width body folds')
    t.same(bodies(await search(alice, room, { q: 'ＲＥＬＥＡＳＥ' })), ['ＦＵＬＬ ｗｉｄｔｈ release notes'], 'a full-width query folds')
    await post(bob, room, 'ΟΔΟΣ ΑΘΗΝΑΣ')
    for (const q of ['ΟΔΟΣ', 'οδος', 'οδοσ', 'Αθηνας'])
      t.same(bodies(await search(alice, room, { q })), ['ΟΔΟΣ ΑΘΗΝΑΣ'], `Greek ${q}: a final sigma matches in any case`)
    const [first] = (await search(alice, room, { q: 'noon' })).body.messages
    t.same(Object.keys(first).sort(), ['body', 'clientMsgId', 'createdAt', 'id', 'roomId', 'senderId'], 'a plain message envelope, no index columns')
  })

  t.test('room search pages newest first without repeats or gaps', async (t) => {
    const room = await group(alice, [bob])
    const items: number[] = []
    for (let i = 1; i <= 25; i++) {
      items.push((await post(i % 2 ? alice : bob, room, `page item ${i}`)).id)
      if (i % 5 === 0) await post(alice, room, `unrelated ${i}`)
    }
    const pages = await allPages(bob, room, 'item', 10)
    t.same(pages.map((p) => p.body.messages.length), [10, 10, 5], '10, 10, 5')
    t.type(pages[0]!.body.nextCursor, 'string', 'a cursor after the first page')
    t.equal(pages[2]!.body.nextCursor, null, 'no cursor after the last page')
    const ids = pages.flatMap((p) => p.body.messages.map((m: { id: number }) => m.id))
    t.same(ids, [...items].reverse(), 'every match once, newest first')

    const exact = await allPages(bob, room, 'item', 25)
    t.same(exact.map((p) => [p.body.messages.length, p.body.nextCursor]), [[25, null]], 'a page that ends exactly at the last match has no cursor')
    const byDefault = await search(bob, room, { q: 'item' })
    t.equal(byDefault.body.messages.length, 20, 'default page size 20')
    t.type(byDefault.body.nextCursor, 'string')
  })

  t.test('search across rooms pages through messages committed together', async (t) => {
    const rooms = [await group(erin, [alice]), await group(erin, [bob]), await group(erin, [carol])]
    // Sent in one tick, so group commit stores them in one statement, with one timestamp: pages must split ties.
    const { messages } = app.node.services
    const sentAll = (await Promise.all(Array.from({ length: 24 }, (_, i) => messages.send(erin.id, rooms[i % 3]!, messages.validate(`m-${++sent}`, `zephyr batch ${i}`))))).map((r) => r.message)
    t.ok(new Set(sentAll.map((m) => m.createdAt)).size < 24, 'some messages share a timestamp')
    const pages = await allPages(erin, undefined, 'zephyr', 10)
    t.same(pages.map((p) => p.body.messages.length), [10, 10, 4], '10, 10, 4')
    const found = pages.flatMap((p) => p.body.messages as Array<{ roomId: string; id: number; createdAt: string }>)
    const key = (m: { roomId: string; id: number }) => `${m.roomId}/${m.id}`
    t.equal(new Set(found.map(key)).size, 24, 'no message twice')
    t.same(new Set(found.map(key)), new Set(sentAll.map(key)), 'every message once')
    t.ok(found.every((m, i) => i === 0 || m.createdAt <= found[i - 1]!.createdAt), 'newest first')
  })

  t.test('room search stays in the room; global search covers exactly my rooms', async (t) => {
    const aliceBob = (await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })).body.room.id
    const carolDave = (await app.http('POST', '/v1/rooms', { token: carol.token, body: { type: 'direct', userId: dave.id } })).body.room.id
    const team = await group(alice, [bob, carol])
    await post(alice, aliceBob, 'quokka in the direct room')
    await post(carol, carolDave, 'quokka between carol and dave')
    await post(bob, team, 'quokka for the team')
    await post(carol, team, 'quokka again for the team')

    const inDirect = await search(alice, aliceBob, { q: 'quokka' })
    t.same(bodies(inDirect), ['quokka in the direct room'], 'room search: only that room')
    const roomsOf = async (user: User) => {
      const res = await search(user, undefined, { q: 'quokka' })
      return (res.body.messages as Array<{ roomId: string }>).map((m) => m.roomId)
    }
    t.same(await roomsOf(alice), [team, team, aliceBob], 'alice: the team room and her direct room, newest first')
    t.same(await roomsOf(bob), [team, team, aliceBob], 'bob: the same rooms')
    t.same(await roomsOf(carol), [team, team, carolDave], 'carol: the team and her direct room')
    t.same(await roomsOf(dave), [carolDave], 'dave: only his direct room')
    t.same((await search(erin, undefined, { q: 'quokka' })).body, { messages: [], nextCursor: null }, 'erin: none of these rooms')
  })

  t.test('room search for non-members and unknown rooms', async (t) => {
    const room = await group(alice, [bob])
    await post(alice, room, 'private walrus')
    expectError(t, await search(carol, room, { q: 'walrus' }), 404, 'room_not_found', 'a non-member')
    expectError(t, await search(carol, 'NoSuchRoom00', { q: 'walrus' }), 404, 'room_not_found', 'an unknown room')
    expectError(t, await search(carol, 'bad id', { q: 'walrus' }), 400, 'validation_failed', 'a malformed room id')
    t.same(bodies(await search(carol, undefined, { q: 'walrus' })), [], 'nor through the global search')
  })

  t.test('deleted messages are not found; edited ones by their new text only', async (t) => {
    const room = await group(alice, [bob])
    const alpha = await post(alice, room, 'secret plan alpha')
    await post(alice, room, 'secret plan beta')
    const edited = await post(bob, room, 'old wording here')

    t.equal((await app.http('DELETE', `/v1/rooms/${room}/messages/${alpha.id}`, { token: alice.token })).status, 200, 'deleted')
    t.same(bodies(await search(bob, room, { q: 'secret' })), ['secret plan beta'], 'the deleted one is gone from room search')
    t.same(bodies(await search(bob, room, { q: 'alpha' })), [], 'by its own word too')
    t.same(bodies(await search(bob, undefined, { q: 'secret alpha' })), [], 'and from global search')

    t.equal((await app.http('PATCH', `/v1/rooms/${room}/messages/${edited.id}`, { token: bob.token, body: { body: 'new phrasing here' } })).status, 200, 'edited')
    t.same(bodies(await search(alice, room, { q: 'wording' })), [], 'not by the old text')
    const found = await search(alice, room, { q: 'phrasing' })
    t.same(bodies(found), ['new phrasing here'], 'by the new text')
    t.match(found.body.messages[0], { id: edited.id, editedAt: String })
  })

  t.test('invalid queries', async (t) => {
    const room = await group(alice, [bob])
    for (const [roomId, where] of [[room, 'room'], [undefined, 'global']] as const) {
      expectError(t, await search(alice, roomId, {}), 400, 'validation_failed', `${where}: no q`)
      expectError(t, await search(alice, roomId, { q: '' }), 400, 'validation_failed', `${where}: empty q`)
      expectError(t, await search(alice, roomId, { q: '   ' }), 400, 'validation_failed', `${where}: blank q`)
      const punctuation = await search(alice, roomId, { q: '?!.,' })
      expectError(t, punctuation, 400, 'validation_failed', `${where}: only punctuation`)
      t.match(punctuation.body.error.message, /^q: .*letter or digit/, `${where}: says what a query needs`)
      expectError(t, await search(alice, roomId, { q: '🙂🙂' }), 400, 'validation_failed', `${where}: only emoji`)
      const long = await search(alice, roomId, { q: '회'.repeat(201) })
      expectError(t, long, 400, 'validation_failed', `${where}: 201 characters`)
      t.match(long.body.error.message, /200 characters/, `${where}: names the limit`)
      t.equal((await search(alice, roomId, { q: '회'.repeat(200) })).status, 200, `${where}: 200 characters are fine`)
      t.equal((await search(alice, roomId, { q: ` ${'a'.repeat(200)} ` })).status, 200, `${where}: the limit applies after trimming`)
      expectError(t, await search(alice, roomId, { q: 'x', limit: 0 }), 400, 'validation_failed', `${where}: limit 0`)
      expectError(t, await search(alice, roomId, { q: 'x', limit: 'ten' }), 400, 'validation_failed', `${where}: limit not a number`)
      expectError(t, await search(alice, roomId, { q: 'x', cursor: 'not-a-cursor' }), 400, 'validation_failed', `${where}: a made-up cursor`)
      const badDate = Buffer.from(JSON.stringify(['2024-02-30T00:00:00.000000Z', room, 1])).toString('base64url')
      expectError(t, await search(alice, roomId, { q: 'x', cursor: badDate }), 400, 'validation_failed', `${where}: a cursor with an impossible time`)
    }
    expectError(t, await search(carol, room, { q: '' }), 400, 'validation_failed', 'a bad query is refused before membership is checked')
  })

  t.test('unauthenticated', async (t) => {
    const room = await group(alice, [bob])
    expectError(t, await search(undefined, room, { q: 'hello' }), 401, 'unauthenticated', 'room search without a token')
    expectError(t, await search(undefined, undefined, { q: 'hello' }), 401, 'unauthenticated', 'global search without a token')
    const forged = await app.http('GET', '/v1/messages/search?q=hello', { token: 'not.a.token' })
    expectError(t, forged, 401, 'unauthenticated', 'with a bad token')
  })
})

t.test('the page size is capped at HISTORY_PAGE_MAX', async (t) => {
  app = await startTestNode(t, { HISTORY_PAGE_MAX: '3' })
  const alice = await app.user('alice')
  const room = await group(alice, [])
  for (let i = 0; i < 5; i++) await post(alice, room, `capped ${i}`)
  for (const roomId of [room, undefined]) {
    const res = await search(alice, roomId, { q: 'capped', limit: 50 })
    t.equal(res.body.messages.length, 3, `${roomId ? 'room' : 'global'}: three of five`)
    t.type(res.body.nextCursor, 'string', 'with a cursor for the rest')
  }
})
