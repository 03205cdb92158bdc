import type { Test } from 'tap'
import type { ChatClient, ChatMessage } from '../../client/index.ts'

/** Every `message` event of `client`, in the order emitted. */
export function recordMessages(client: ChatClient): ChatMessage[] {
  const got: ChatMessage[] = []
  client.on('message', (m) => got.push(m))
  return got
}

/**
 * Resolves once `got` holds `count` messages (checked as events arrive);
 * rejects, saying how many came, if they have not after `ms` (a liveness
 * bound for a lost message, far above the time they take).
 */
export function until(client: ChatClient, got: ChatMessage[], count: number, ms = 30_000): Promise<void> {
  if (got.length >= count) return Promise.resolve()
  return within(client.next('message', () => got.length >= count).then(() => {}), ms, () => `only ${got.length} of ${count} messages arrived`)
}

/** `promise`, or a rejection with `what()` once `ms` have passed without it settling. */
export function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(what())), ms) })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

/**
 * The checks of a conversation that went through cuts: the sends resolved
 * with numbers 1..n, each once; `seen` (one client's events) is exactly
 * those messages, in order; the server's history holds each once.
 */
export function checkConversation(t: Test, sent: ChatMessage[], seen: ChatMessage[], history: ChatMessage[], who: string): void {
  const n = sent.length
  const expected = Array.from({ length: n }, (_, i) => i + 1)
  t.same(sent.map((m) => m.id).sort((a, b) => a - b), expected, `every send resolved with its own number 1..${n}`)
  t.same(seen.map((m) => m.id), expected, `${who} saw 1..${n} in order, each once`)
  const byId = new Map(sent.map((m) => [m.id, m.clientMsgId]))
  t.ok(seen.every((m) => byId.get(m.id) === m.clientMsgId), `${who} saw the message each send resolved with`)
  t.same(history.map((m) => m.id), expected, 'the server stored each message once')
  t.equal(new Set(history.map((m) => m.clientMsgId)).size, n, 'no client message id stored twice')
}
