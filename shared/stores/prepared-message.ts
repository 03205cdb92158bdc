import { searchGrams } from '../search/grams.ts'
import type { PendingMessage } from './message-store.ts'

/**
 * A message with its part of a batch made when it is written, so that a
 * batch only joins strings when its turn comes: the search grams and the
 * array-literal quoting were most of this process's work at the start of a
 * batch (bench scenario 1's profile), and a room's batches commit one after
 * another.
 */
export interface PreparedMessage {
  message: PendingMessage
  /** Room, sender and client id as one string: a resend has the same one. */
  key: string
  /** The message's element of each array the commit function takes, quoted for an array literal. */
  elements: readonly [room: string, sender: string, clientId: string, body: string, grams: string, system: 't' | 'f']
}

const NEEDS_ESCAPE = /["\\]/
const ESCAPED = /["\\]/g

/** `text` as an element of a Postgres array literal: in double quotes, with `"` and `\` escaped (as node-postgres does). */
function arrayElement(text: string): string {
  return `"${NEEDS_ESCAPE.test(text) ? text.replace(ESCAPED, '\\$&') : text}"`
}

/** Makes `message`'s part of a batch ({@link PreparedMessage}). */
export function prepareMessage(message: PendingMessage): PreparedMessage {
  return {
    message,
    key: JSON.stringify([message.roomId, message.senderId, message.clientMsgId]),
    elements: [arrayElement(message.roomId), arrayElement(message.senderId), arrayElement(message.clientMsgId), arrayElement(message.body),
      arrayElement(searchGrams(message.body).join(' ')), message.system === true ? 't' : 'f'],
  }
}

/** Column `column` of `batch` as a Postgres array literal. */
export function arrayLiteral(batch: readonly PreparedMessage[], column: number): string {
  return `{${batch.map((prepared) => prepared.elements[column]).join(',')}}`
}

/**
 * The batch with each (room, sender, client id) once; for each message of
 * the batch, its position in `unique`, and whether an earlier one had it.
 */
export function distinctMessages(batch: readonly PreparedMessage[]): { unique: PreparedMessage[]; slots: number[]; repeats: boolean[] } {
  const unique: PreparedMessage[] = []
  const slots: number[] = []
  const repeats: boolean[] = []
  const seen = new Map<string, number>()
  for (const prepared of batch) {
    const slot = seen.get(prepared.key)
    repeats.push(slot !== undefined)
    if (slot !== undefined) {
      slots.push(slot)
    } else {
      seen.set(prepared.key, unique.length)
      slots.push(unique.length)
      unique.push(prepared)
    }
  }
  return { unique, slots, repeats }
}
