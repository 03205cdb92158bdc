import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'

/** Messages of one room not yet announced to one offline member, from one batch of stored messages. */
export interface PendingNote {
  userId: string
  roomId: string
  count: number
  lastSeq: number
  lastSenderId: string
}

/** What a push notification says (JSON, encrypted for the device). */
export interface PushNotification {
  type: 'messages'
  roomId: string
  /** The group's name; null for a direct room. */
  roomName: string | null
  roomType: 'direct' | 'group'
  /** The sender of the latest message announced. */
  senderId: string
  senderName: string | null
  /** Messages that arrived since the previous notification for this room. */
  count: number
  /** The number of the latest of them in its room. */
  lastMessageId: number
  /** The start of the latest message; absent with `PUSH_PREVIEW=false` or when it was deleted. */
  preview?: string
}

/** Longest preview, in characters: enough to recognise, small next to the 4 KB push payload limit. */
const PREVIEW_CHARS = 200

/**
 * The collapse state (`push_pending`): per member and room, how many
 * messages wait to be announced and when the notification is due. A
 * member's first message is due at once; later ones join it, or, right
 * after a notification, wait until `collapseMs` after it, so a member gets
 * at most one push per room per window. Being durable, it is also the
 * schedule: a node that stops leaves its due rows to the others.
 */
export class PendingStore {
  readonly #db: Kysely<Database>
  readonly #collapseMs: number
  readonly #devicesPerUser: number

  /** `devicesPerUser`: a member's newest devices that are pushed to (`PUSH_SUBSCRIPTIONS_PER_USER`). */
  constructor(db: Kysely<Database>, collapseMs: number, devicesPerUser: number) {
    this.#db = db
    this.#collapseMs = collapseMs
    this.#devicesPerUser = devicesPerUser
  }

  /** Records `notes` in one statement; answers the earliest time one of them is due. */
  async note(notes: readonly PendingNote[]): Promise<Date | undefined> {
    if (notes.length === 0) return undefined
    // Same row order on every node, so concurrent batches cannot deadlock.
    const sorted = [...notes].sort((a, b) => (a.userId + a.roomId < b.userId + b.roomId ? -1 : 1))
    const col = <K extends keyof PendingNote>(k: K) => sorted.map((n) => n[k])
    const { rows } = await sql<{ due_at: Date }>`
      INSERT INTO push_pending (user_id, room_id, pending, last_seq, last_sender_id, due_at)
      SELECT c.user_id, c.room_id, c.n, c.seq, c.sender, now()
      FROM unnest(${col('userId')}::text[], ${col('roomId')}::text[], ${col('count')}::int[], ${col('lastSeq')}::bigint[], ${col('lastSenderId')}::text[])
        AS c(user_id, room_id, n, seq, sender)
      -- A room deleted since its message was stored must not fail the whole batch.
      WHERE EXISTS (SELECT 1 FROM rooms r WHERE r.id = c.room_id)
      ON CONFLICT (user_id, room_id) DO UPDATE SET
        pending = push_pending.pending + excluded.pending,
        last_sender_id = CASE WHEN excluded.last_seq >= push_pending.last_seq THEN excluded.last_sender_id ELSE push_pending.last_sender_id END,
        last_seq = greatest(push_pending.last_seq, excluded.last_seq),
        due_at = coalesce(push_pending.due_at, greatest(now(), push_pending.last_sent_at + ${this.#collapseMs} * interval '1 millisecond'))
      RETURNING due_at`.execute(this.#db)
    return rows.reduce<Date | undefined>((min, r) => (!min || r.due_at < min ? r.due_at : min), undefined)
  }

  /**
   * Takes up to `limit` due rows (skipping rows another node holds) and, in
   * the same transaction, resets them and queues one delivery per device of
   * each member still offline, not muted and not in do-not-disturb. Answers
   * how many deliveries it queued. A member who holds more devices than the
   * cap (stored before it was lowered) is pushed to on the newest only, so
   * the cap bounds every message's fan-out whatever the table holds.
   */
  async promoteDue(limit: number, opts: { preview: boolean; isOnline: (userId: string) => Promise<boolean> }): Promise<number> {
    return this.#db.transaction().execute(async (tx) => {
      const { rows: due } = await sql<{ user_id: string; room_id: string; pending: number; last_seq: number; last_sender_id: string }>`
        SELECT user_id, room_id, pending, last_seq, last_sender_id FROM push_pending
        WHERE due_at <= now() ORDER BY due_at LIMIT ${limit} FOR UPDATE SKIP LOCKED`.execute(tx)
      if (due.length === 0) return 0
      const users = due.map((d) => d.user_id)
      const rooms = due.map((d) => d.room_id)
      await sql`UPDATE push_pending p SET pending = 0, due_at = NULL
        FROM unnest(${users}::text[], ${rooms}::text[]) AS c(user_id, room_id)
        WHERE p.user_id = c.user_id AND p.room_id = c.room_id`.execute(tx)
      const { rows: details } = await sql<{ user_id: string; room_id: string; pending: number; last_seq: number; sender_id: string; room_name: string | null; room_type: 'direct' | 'group'; sender_name: string | null; body: string | null }>`
        SELECT c.user_id, c.room_id, c.pending, c.seq AS last_seq, c.sender AS sender_id, r.name AS room_name, r.type AS room_type, u.display_name AS sender_name, m.body
        FROM unnest(${users}::text[], ${rooms}::text[], ${due.map((d) => d.pending)}::int[], ${due.map((d) => d.last_seq)}::bigint[], ${due.map((d) => d.last_sender_id)}::text[])
          AS c(user_id, room_id, pending, seq, sender)
        JOIN rooms r ON r.id = c.room_id
        LEFT JOIN users u ON u.id = c.sender
        LEFT JOIN messages m ON m.room_id = c.room_id AND m.seq = c.seq
        WHERE c.pending > 0
          AND NOT EXISTS (SELECT 1 FROM users d WHERE d.id = c.user_id AND d.disabled)
          AND NOT EXISTS (SELECT 1 FROM push_user_settings s WHERE s.user_id = c.user_id AND s.do_not_disturb)
          AND NOT EXISTS (SELECT 1 FROM push_room_mutes x WHERE x.user_id = c.user_id AND x.room_id = c.room_id)`.execute(tx)
      if (details.length === 0) return 0
      const { rows: subs } = await sql<{ id: string; user_id: string }>`
        SELECT id, user_id FROM (
          SELECT id, user_id, row_number() OVER (PARTITION BY user_id ORDER BY created_at DESC, id DESC) AS newest
          FROM push_subscriptions WHERE user_id = ANY(${details.map((d) => d.user_id)}::text[])) s
        WHERE newest <= ${this.#devicesPerUser}`.execute(tx)
      const jobs: Array<{ subscription_id: string; payload: string }> = []
      const notified: Array<{ user_id: string; room_id: string }> = []
      for (const d of details) {
        // A member who came back meanwhile reads the messages in the app.
        if (await opts.isOnline(d.user_id)) continue
        const payload = JSON.stringify(notification(d, opts.preview))
        for (const s of subs) if (s.user_id === d.user_id) jobs.push({ subscription_id: s.id, payload })
        notified.push(d)
      }
      if (jobs.length === 0) return 0
      // Two arrays, not two parameters per job: a batch of any size stays far below Postgres's 65,535 bind parameters.
      await sql`INSERT INTO push_jobs (subscription_id, payload)
        SELECT * FROM unnest(${jobs.map((j) => j.subscription_id)}::text[], ${jobs.map((j) => j.payload)}::text[])`.execute(tx)
      // Only a notification sent opens a collapse window.
      await sql`UPDATE push_pending p SET last_sent_at = now()
        FROM unnest(${notified.map((n) => n.user_id)}::text[], ${notified.map((n) => n.room_id)}::text[]) AS c(user_id, room_id)
        WHERE p.user_id = c.user_id AND p.room_id = c.room_id`.execute(tx)
      return jobs.length
    })
  }
}

function notification(d: { room_id: string; pending: number; last_seq: number; sender_id: string; room_name: string | null; room_type: 'direct' | 'group'; sender_name: string | null; body: string | null }, preview: boolean): PushNotification {
  const note: PushNotification = {
    type: 'messages', roomId: d.room_id, roomName: d.room_name, roomType: d.room_type,
    senderId: d.sender_id, senderName: d.sender_name, count: d.pending, lastMessageId: d.last_seq,
  }
  if (preview && d.body !== null) note.preview = [...d.body].slice(0, PREVIEW_CHARS).join('')
  return note
}
