import t from 'tap'
import { newId, isId } from '../../shared/ids.ts'
import { chatTopic, parseChatTopic, parseSubscription, userTopic } from '../../shared/topics.ts'

const room = 'Room_id-0001'
const alice = 'aliceAlice12'
const BAD_IDS = [
  '', 'short', 'Room_id-000', // 11 characters
  'Room_id-00011', // 13 characters
  'Room id-0001', 'Room+id-0001', 'Room#id-0001', 'Room.id-0001', 'Room$id-0001', 'Room=id-0001',
  'Röom_id-0001', 'Room_id-000\u0000', '+', '#',
]

t.test('ids', async (t) => {
  t.ok(isId(room))
  for (let i = 0; i < 50; i++) {
    const id = newId()
    t.equal(id.length, 12)
    t.ok(isId(id), `newId() ${id} is an id`)
  }
  for (const bad of BAD_IDS) t.notOk(isId(bad), `${JSON.stringify(bad)} is not an id`)
})

t.test('topic builders', async (t) => {
  t.equal(chatTopic(room, alice), `chat/${room}/${alice}`)
  t.equal(userTopic(alice, 'errors'), `user/${alice}/errors`)
  t.same(parseChatTopic(chatTopic(room, alice)), { roomId: room, senderId: alice }, 'chatTopic round trips')
  t.same(parseSubscription(userTopic(alice, 'errors')), { kind: 'user', userId: alice }, 'userTopic is subscribable')
})

t.test('parseChatTopic accepts exactly chat/<id>/<id>', async (t) => {
  t.same(parseChatTopic(`chat/${room}/${alice}`), { roomId: room, senderId: alice })
  const refused = [
    '', '#', '+', 'chat', 'chat/', `chat/${room}`, `chat/${room}/`, `chat/${room}/+`, `chat/${room}/#`, `chat/+/${alice}`,
    'chat/#', 'chat/+/+', '+/+/+', `+/${room}/${alice}`, `chat/${room}/${alice}/x`, `chat/${room}/${alice}/`,
    `/chat/${room}/${alice}`, `Chat/${room}/${alice}`, `chats/${room}/${alice}`, `user/${room}/${alice}`,
    `$SYS/${room}/${alice}`, '$SYS/#', `chat//${alice}`, `chat/${room}//`, 'chat//x', `chat/${room}/errors`,
    ...BAD_IDS.flatMap((bad) => [`chat/${bad}/${alice}`, `chat/${room}/${bad}`]),
  ]
  for (const topic of refused) t.equal(parseChatTopic(topic), null, `refuses ${JSON.stringify(topic)}`)
})

t.test('parseSubscription accepts the documented filters', async (t) => {
  t.same(parseSubscription(`chat/${room}/+`), { kind: 'room', roomId: room })
  t.same(parseSubscription(`chat/${room}/${alice}`), { kind: 'room', roomId: room })
  t.same(parseSubscription(`user/${alice}/#`), { kind: 'user', userId: alice })
  t.same(parseSubscription(`user/${alice}/+`), { kind: 'user', userId: alice })
  t.same(parseSubscription(`user/${alice}/errors`), { kind: 'user', userId: alice })
})

t.test('parseSubscription refuses every other filter', async (t) => {
  const refused = [
    '', '#', '+', '+/#', '+/+', '+/+/+', '+/+/+/+', 'chat', 'chat/', 'chat/#', 'chat/+', 'chat/+/+', 'chat/+/#', `chat/+/${alice}`,
    `chat/${room}`, `chat/${room}/`, `chat/${room}/#`, `chat/${room}/${alice}/x`, `chat/${room}/+/+`, `chat/${room}/+/#`,
    `chat/${room}/errors`, `chat/${room}/a+`, `/chat/${room}/+`, `Chat/${room}/+`,
    '$SYS/#', '$SYS/+', `$SYS/${room}/+`, `$share/g/chat/${room}/+`, `$share/${room}/chat`,
    `+/${room}/+`, `#/${room}/+`,
    'chat//x', 'chat//+', `chat//${alice}`, 'user//#', 'user//errors',
    'user/+/#', 'user/+/+', 'user/+/errors', 'user/#', `user/${alice}`, `user/${alice}/`, `user/${alice}/#/x`,
    `user/${alice}/errors/x`, `user/${alice}/Errors`, `user/${alice}/err-ors`, `user/${alice}/${'a'.repeat(33)}`,
    `user/${alice}/e#`, `User/${alice}/#`, `users/${alice}/#`,
    // `+` is a valid last level (chat/<roomId>/+), so it is left out there.
    ...BAD_IDS.flatMap((bad) => [`chat/${bad}/+`, ...(bad === '+' ? [] : [`chat/${room}/${bad}`]), `user/${bad}/#`]),
  ]
  for (const filter of refused) t.equal(parseSubscription(filter), null, `refuses ${JSON.stringify(filter)}`)
})
