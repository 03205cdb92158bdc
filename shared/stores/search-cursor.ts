import { ChatError } from '../errors.ts'

/** Where a page ended: the last match's exact time (UTC, microseconds), room and number. */
export interface Position {
  at: string
  roomId: string
  id: number
}

const EXACT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/

/** The cursor of the page that ended at `position`: opaque to clients. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.at, position.roomId, position.id])).toString('base64url')
}

/** The position in a cursor this store made; `validation_failed` for anything else. */
export function decodeCursor(cursor: string): Position {
  const position = parseCursor(cursor)
  if (position) return position
  const message = 'not a cursor from a previous page of this search'
  throw new ChatError('validation_failed', `cursor: ${message}`, { issues: [{ path: 'cursor', message }] })
}

function parseCursor(cursor: string): Position | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return undefined
  const [at, roomId, id] = parsed as unknown[]
  if (typeof at !== 'string' || !isExactTime(at) || typeof roomId !== 'string' || !ROOM_ID.test(roomId)) return undefined
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return undefined
  return { at, roomId, id }
}

/** A time as `encodeCursor` writes it, and a real one (Postgres would refuse 30 February with a 500). */
function isExactTime(at: string): boolean {
  if (!EXACT_TIME.test(at)) return false
  const time = new Date(at)
  return time.getTime() > 0 && time.toISOString().slice(0, 23) === at.slice(0, 23)
}
