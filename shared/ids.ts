import { randomBytes, randomUUID } from 'node:crypto'

/**
 * A new 12-character URL- and topic-safe random id (72 bits).
 *
 * Short on purpose: user and room ids appear in every MQTT topic, and topic
 * bytes are paid on every message by low-bandwidth clients.
 */
export function newId(): string {
  return randomBytes(9).toString('base64url')
}

/** Whether `value` has the shape of an id made by {@link newId}. */
export function isId(value: string): boolean {
  return /^[A-Za-z0-9_-]{12}$/.test(value)
}

/**
 * A new id for one connection: a random UUID, copied into one flat string.
 * `crypto.randomUUID()` builds its text by concatenation, which V8 keeps as
 * a tree of some 25 pieces, about 490 bytes for as long as the id lives
 * (every idle connection keeps two ids); string operations such as
 * `replaceAll` build trees too, while a Buffer's `toString` makes one flat
 * string. (`randomBytes` per id cost 2-7 us against under 1 us here:
 * `randomUUID` draws its randomness in bulk.)
 */
export function newConnectionId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1')
}
