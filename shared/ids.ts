import { randomBytes } from 'node:crypto'

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
 * A new id for one connection (96 random bits, 16 characters), made as one
 * flat string. `crypto.randomUUID()` builds its text by concatenation, which
 * V8 keeps as a tree of some 25 pieces, about 490 bytes for as long as the
 * id lives, against about 45 here: every idle connection keeps two.
 */
export function newConnectionId(): string {
  return randomBytes(12).toString('base64url')
}
