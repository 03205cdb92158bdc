import t, { type Test } from 'tap'
import { ChatError, type ErrorCode } from '../../shared/errors.ts'
import { encodeEnvelope, parseMessagePayload, validateMessage, type MessageEnvelope } from '../../shared/protocol.ts'

const MAX = 4096

function refusal(t: Test, fn: () => unknown, code: ErrorCode, what: string): void {
  try {
    const result = fn()
    t.fail(`${what}: accepted as ${JSON.stringify(result)?.slice(0, 100)}`)
  } catch (err) {
    t.type(err, ChatError, `${what}: a ChatError`)
    t.equal((err as ChatError).code, code, `${what}: ${code}`)
    t.ok((err as ChatError).message.length > 0, `${what}: has a message`)
  }
}

const payload = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))

t.test('a valid payload parses to {clientMsgId, body}', async (t) => {
  t.same(parseMessagePayload(payload({ id: 'm-1', body: 'hello' }), MAX), { clientMsgId: 'm-1', body: 'hello' })
  t.same(parseMessagePayload(payload({ id: 'x'.repeat(64), body: 'ünïcödé ✓ 😀' }), MAX), { clientMsgId: 'x'.repeat(64), body: 'ünïcödé ✓ 😀' }, '64-char id, unicode body')
  t.same(parseMessagePayload(payload({ id: '!~#+/{}', body: '  padded  ' }), MAX), { clientMsgId: '!~#+/{}', body: '  padded  ' }, 'printable ASCII id; body kept verbatim')
  t.same(parseMessagePayload(payload({ id: 'a', body: 'x', extra: 1 }), MAX), { clientMsgId: 'a', body: 'x' }, 'only id and body are kept')
  t.same(parseMessagePayload(payload({ id: 'a', body: 'é'.repeat(MAX / 2) }), MAX).body.length, MAX / 2, 'a body exactly at the byte limit')
  const escaped = `{"id":"e","body":"${'\\u0001'.repeat(MAX)}"}`
  t.equal(parseMessagePayload(Buffer.from(escaped), MAX).body.length, MAX, 'a maximal body written fully \\u-escaped is accepted')
})

t.test('invalid payloads are refused with validation_failed', async (t) => {
  const cases: Array<[string, Buffer]> = [
    ['not JSON', payload('hello')],
    ['truncated JSON', payload('{"id":"a","body":"x"')],
    ['empty payload', Buffer.alloc(0)],
    ['invalid UTF-8 garbage', Buffer.from([0xff, 0xfe, 0xfd])],
    ['JSON array', payload([{ id: 'a', body: 'x' }])],
    ['JSON string', payload('"hello"')],
    ['JSON number', payload('42')],
    ['JSON null', payload('null')],
    ['missing id', payload({ body: 'x' })],
    ['missing body', payload({ id: 'a' })],
    ['numeric id', payload({ id: 1, body: 'x' })],
    ['null id', payload({ id: null, body: 'x' })],
    ['empty id', payload({ id: '', body: 'x' })],
    ['id with spaces', payload({ id: 'my id', body: 'x' })],
    ['id with a tab', payload({ id: 'my\tid', body: 'x' })],
    ['id with non-ASCII', payload({ id: 'idé', body: 'x' })],
    ['id of 65 characters', payload({ id: 'x'.repeat(65), body: 'x' })],
    ['empty body', payload({ id: 'a', body: '' })],
    ['whitespace body', payload({ id: 'a', body: ' \n\t ' })],
    ['numeric body', payload({ id: 'a', body: 42 })],
    ['object body', payload({ id: 'a', body: { text: 'x' } })],
  ]
  for (const [what, buf] of cases) refusal(t, () => parseMessagePayload(buf, MAX), 'validation_failed', what)
})

t.test('a body over the byte limit is payload_too_large, counted in UTF-8 bytes', async (t) => {
  refusal(t, () => parseMessagePayload(payload({ id: 'a', body: 'x'.repeat(MAX + 1) }), MAX), 'payload_too_large', 'ASCII body of MAX+1 bytes')
  // 2049 characters, 4098 bytes: under the limit in characters, over it in bytes.
  refusal(t, () => parseMessagePayload(payload({ id: 'a', body: 'é'.repeat(MAX / 2 + 1) }), MAX), 'payload_too_large', '2-byte characters')
  // 1366 characters of 3 bytes = 4098 bytes.
  refusal(t, () => parseMessagePayload(payload({ id: 'a', body: '✓'.repeat(1366) }), MAX), 'payload_too_large', '3-byte characters')
  // 1025 emoji = 2050 UTF-16 units but 4100 bytes.
  refusal(t, () => parseMessagePayload(payload({ id: 'a', body: '😀'.repeat(1025) }), MAX), 'payload_too_large', '4-byte characters')
  t.equal(parseMessagePayload(payload({ id: 'a', body: '😀'.repeat(1024) }), MAX).body.length, 2048, '1024 emoji (4096 bytes) fit')
  refusal(t, () => parseMessagePayload(payload({ id: 'a', body: 'abcdef' }), 5), 'payload_too_large', 'a small configured limit')
  t.same(parseMessagePayload(payload({ id: 'a', body: 'abcde' }), 5), { clientMsgId: 'a', body: 'abcde' }, 'exactly at a small limit')
})

t.test('a raw payload far over the limit is refused before parsing', async (t) => {
  // Not JSON at all: were it parsed first it would be validation_failed.
  refusal(t, () => parseMessagePayload(Buffer.alloc(MAX * 6 + 10_000, 'x'), MAX), 'payload_too_large', 'huge non-JSON payload')
  refusal(t, () => parseMessagePayload(Buffer.alloc(1_000_000, '{'), MAX), 'payload_too_large', '1 MB of braces')
  const parse = JSON.parse
  let parsed = 0
  JSON.parse = ((...args: Parameters<typeof JSON.parse>) => { parsed++; return parse(...args) }) as typeof JSON.parse
  try {
    refusal(t, () => parseMessagePayload(payload({ id: 'a', body: 'x'.repeat(MAX * 10) }), MAX), 'payload_too_large', 'huge valid JSON payload')
  } finally {
    JSON.parse = parse
  }
  t.equal(parsed, 0, 'JSON.parse was not called')
})

t.test('validateMessage checks an already-parsed message', async (t) => {
  t.same(validateMessage('id', 'body', MAX), { clientMsgId: 'id', body: 'body' })
  refusal(t, () => validateMessage(undefined, 'x', MAX), 'validation_failed', 'missing id')
  refusal(t, () => validateMessage('a b', 'x', MAX), 'validation_failed', 'id with a space')
  refusal(t, () => validateMessage('a', undefined, MAX), 'validation_failed', 'missing body')
  refusal(t, () => validateMessage('a', 'x'.repeat(MAX + 1), MAX), 'payload_too_large', 'too large')
})

t.test('encodeEnvelope is the JSON of the envelope', async (t) => {
  const message: MessageEnvelope = { id: 7, roomId: 'Room_id-0001', senderId: 'aliceAlice12', clientMsgId: 'm1', body: 'hi "there" ✓', createdAt: new Date(0).toISOString() }
  t.same(JSON.parse(encodeEnvelope(message).toString('utf8')), message)
})
