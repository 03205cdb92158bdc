import { ChatError } from './errors.ts'

/** What a member publishes to `chat/<roomId>/<ownUserId>`. */
export interface OutgoingMessage {
  /** The client's own id for the message; a resend with the same id is not stored twice. */
  clientMsgId: string
  body: string
}

/** A stored message as every subscriber and every history page sees it. */
export interface MessageEnvelope {
  id: number
  roomId: string
  senderId: string
  clientMsgId: string
  /** The text; null once the message is deleted. */
  body: string | null
  createdAt: string
  /** Present once the message has been edited. */
  editedAt?: string
  /** Present once the message has been deleted. */
  deletedAt?: string
}

const CLIENT_MSG_ID = /^[\x21-\x7e]{1,64}$/

/**
 * Checks a message's client id and body; throws `validation_failed`, or
 * `payload_too_large` when the body exceeds `maxBodyBytes` UTF-8 bytes. Once
 * the id is valid, errors carry it as `details.clientMsgId` so the sender can
 * tell which message was refused.
 */
export function validateMessage(clientMsgId: unknown, body: unknown, maxBodyBytes: number): OutgoingMessage {
  if (typeof clientMsgId !== 'string' || !CLIENT_MSG_ID.test(clientMsgId)) {
    throw new ChatError('validation_failed', '"id" must be 1-64 printable ASCII characters without spaces.')
  }
  return { clientMsgId, body: validateBody(body, maxBodyBytes, { clientMsgId }) }
}

/** Checks a message body (new or edited) against the same rules; `details` go into the error. */
export function validateBody(body: unknown, maxBodyBytes: number, details?: Record<string, unknown>): string {
  if (typeof body !== 'string' || body.trim().length === 0) {
    throw new ChatError('validation_failed', '"body" must be a non-empty string.', details)
  }
  if (body.includes('\u0000')) {
    throw new ChatError('validation_failed', '"body" must not contain NUL characters.', details)
  }
  if (Buffer.byteLength(body, 'utf8') > maxBodyBytes) {
    throw new ChatError('payload_too_large', `"body" is over ${maxBodyBytes} bytes.`, details)
  }
  return body
}

/**
 * Parses an MQTT chat payload `{"id": "...", "body": "..."}`. The raw size is
 * checked before parsing so an oversized payload costs no JSON work.
 */
export function parseMessagePayload(payload: Buffer, maxBodyBytes: number): OutgoingMessage {
  // JSON escaping can at most sextuple a body (\uXXXX); allow that plus the envelope.
  if (payload.length > maxBodyBytes * 6 + 256) throw new ChatError('payload_too_large', `payload is over the limit.`)
  let parsed: unknown
  try {
    parsed = JSON.parse(payload.toString('utf8'))
  } catch {
    throw new ChatError('validation_failed', 'payload is not JSON.')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ChatError('validation_failed', 'payload must be a JSON object {"id", "body"}.')
  }
  const { id, body } = parsed as Record<string, unknown>
  return validateMessage(id, body, maxBodyBytes)
}

/** The bytes subscribers receive for a stored message. */
export function encodeEnvelope(message: MessageEnvelope): Buffer {
  return Buffer.from(JSON.stringify(message))
}

/** The event sent on `user/<userId>/errors` when one of the user's publishes is refused. */
export interface ErrorEvent {
  code: string
  message: string
  topic: string
  clientMsgId?: string
  /** With `rate_limited`: when a send may succeed again. */
  retryAfterMs?: number
}
