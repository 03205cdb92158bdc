/**
 * The one error catalogue shared by REST and MQTT.
 *
 * Every refusal the service makes carries one of these codes: REST answers
 * `{"error": {"code", "message"}}` with `status`; MQTT reports the same code on
 * the user's `user/<userId>/errors` topic (see docs/PROTOCOL.md), or as a
 * CONNACK return code where the protocol has one.
 */
export const ERROR_CATALOGUE = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  validation_failed: { status: 400, message: 'A field is missing or invalid.' },
  payload_too_large: { status: 413, message: 'The message body is larger than allowed.' },
  unauthenticated: { status: 401, message: 'A valid access token is required.' },
  invalid_credentials: { status: 401, message: 'Wrong username or password.' },
  topic_not_allowed: { status: 403, message: 'That topic is not yours to use.' },
  not_found: { status: 404, message: 'No such resource.' },
  method_not_allowed: { status: 405, message: 'That method is not allowed on this path.' },
  room_not_found: { status: 404, message: 'No such room, or you are not a member of it.' },
  user_not_found: { status: 404, message: 'No such user.' },
  message_not_found: { status: 404, message: 'No such message in this room.' },
  forbidden: { status: 403, message: 'Your role does not allow that.' },
  not_message_sender: { status: 403, message: 'Only the sender may change a message.' },
  direct_room: { status: 409, message: 'A direct room always has exactly its two members and no name.' },
  room_full: { status: 409, message: 'The room has as many members as it may.' },
  message_deleted: { status: 409, message: 'The message is deleted.' },
  username_taken: { status: 409, message: 'That username is taken.' },
  rate_limited: { status: 429, message: 'You are sending too fast; retry later.' },
  too_many_subscriptions: { status: 429, message: 'The connection holds as many subscriptions as it may.' },
  too_many_push_subscriptions: { status: 409, message: 'You have as many push subscriptions as you may; remove one first.' },
  server_busy: { status: 503, message: 'The server is overloaded; retry later.' },
  internal: { status: 500, message: 'Internal error.' },
} as const satisfies Record<string, { status: number; message: string }>

/** A code from {@link ERROR_CATALOGUE}. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE

/** A refusal with a catalogue code; adapters map it to HTTP or MQTT. */
export class ChatError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details?: unknown

  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? ERROR_CATALOGUE[code].message)
    this.name = 'ChatError'
    this.code = code
    this.status = ERROR_CATALOGUE[code].status
    this.details = details
  }
}

/** The JSON body every adapter uses to report an error. */
export function errorBody(err: ChatError): { error: { code: ErrorCode; message: string; details?: unknown } } {
  const body: { code: ErrorCode; message: string; details?: unknown } = { code: err.code, message: err.message }
  if (err.details !== undefined) body.details = err.details
  return { error: body }
}
