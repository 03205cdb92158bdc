import type { MessageRow } from '../db/schema.ts'
import type { MessageEnvelope } from '../protocol.ts'

/** The envelope every reader sees for a stored row. */
export function toEnvelope(row: EnvelopeRow): MessageEnvelope {
  const envelope: MessageEnvelope = {
    id: Number(row.seq),
    roomId: row.room_id,
    senderId: row.sender_id,
    clientMsgId: row.client_msg_id,
    body: row.body,
    createdAt: new Date(row.created_at).toISOString(),
  }
  if (row.edited_at) envelope.editedAt = new Date(row.edited_at).toISOString()
  if (row.deleted_at) envelope.deletedAt = new Date(row.deleted_at).toISOString()
  return envelope
}

/** The columns an envelope is made of (never the search grams). */
export type EnvelopeRow = Omit<MessageRow, 'search_grams'>

/** The columns to select for {@link toEnvelope}. */
export const ENVELOPE_COLUMNS = ['room_id', 'seq', 'sender_id', 'client_msg_id', 'body', 'created_at', 'edited_at', 'deleted_at'] as const
