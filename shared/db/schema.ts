import type { ColumnType, Generated, Selectable } from 'kysely'

/** Kysely's view of the tables; migrations in `migrations/` create them. */
export interface Database {
  users: UsersTable
  rooms: RoomsTable
  room_members: RoomMembersTable
  messages: MessagesTable
  server_keys: ServerKeysTable
  push_subscriptions: PushSubscriptionsTable
  push_user_settings: PushUserSettingsTable
  push_room_mutes: PushRoomMutesTable
  push_pending: PushPendingTable
  push_jobs: PushJobsTable
}

export interface UsersTable {
  id: string
  username: string
  display_name: string
  password_hash: string
  disabled: Generated<boolean>
  /** May use the admin routes (`/v1/admin/...`); granted with `npm run admin -- grant <username>`. */
  admin: Generated<boolean>
  created_at: Generated<Date>
  /** When the user's last connection closed (null: never connected over MQTT). */
  last_seen_at: ColumnType<Date | null, Date | null | undefined, Date | null>
}

export interface RoomsTable {
  id: string
  type: 'direct' | 'group'
  name: string | null
  /** `<smaller user id>:<larger user id>` for direct rooms, so each pair has one. */
  direct_key: string | null
  created_by: string
  /** Highest message number handed out in this room. */
  last_seq: Generated<number>
  created_at: Generated<Date>
  last_message_at: ColumnType<Date | null, Date | null | undefined, Date | null>
}

export interface RoomMembersTable {
  room_id: string
  user_id: string
  role: MemberRole
  joined_at: Generated<Date>
  /** The member's read position: the highest message number they have read (only moves forward). */
  last_read_seq: Generated<number>
}

/** A member's role: the owner and admins manage the room. */
export type MemberRole = 'owner' | 'admin' | 'member'

export interface MessagesTable {
  room_id: string
  /** Number of the message within its room: 1, 2, 3… in commit order. */
  seq: number
  sender_id: string
  client_msg_id: string
  /** The text; null once the message is deleted (it keeps its number). */
  body: string | null
  created_at: Generated<Date>
  edited_at: ColumnType<Date | null, Date | null | undefined, Date | null>
  deleted_at: ColumnType<Date | null, Date | null | undefined, Date | null>
  /** Character unigrams and bigrams of the body, for the search index (see `search/grams.ts`). */
  search_grams: ColumnType<string[], string[] | undefined, string[]>
}

export interface ServerKeysTable {
  name: string
  value: string
  created_at: Generated<Date>
}

/** A device's Web Push subscription (one per endpoint). */
export interface PushSubscriptionsTable {
  id: string
  user_id: string
  endpoint: string
  /** The subscription's P-256 public key and auth secret, base64url, as the browser gives them. */
  p256dh: string
  auth: string
  created_at: Generated<Date>
}

export interface PushUserSettingsTable {
  user_id: string
  do_not_disturb: Generated<boolean>
}

/** A row means: no pushes to this user for this room. */
export interface PushRoomMutesTable {
  user_id: string
  room_id: string
}

/** Messages not yet announced to an offline member; the collapsed notification goes out at `due_at`. */
export interface PushPendingTable {
  user_id: string
  room_id: string
  pending: Generated<number>
  last_seq: Generated<number>
  last_sender_id: string | null
  due_at: Date | null
  last_sent_at: Date | null
}

/** One delivery to one subscription; a running job's `run_at` is its lease, failed jobs are kept. */
export interface PushJobsTable {
  id: Generated<number>
  subscription_id: string
  payload: string
  state: Generated<'queued' | 'running' | 'failed'>
  attempts: Generated<number>
  run_at: Generated<Date>
  last_error: string | null
  created_at: Generated<Date>
}

export type UserRow = Selectable<UsersTable>
export type RoomRow = Selectable<RoomsTable>
export type MessageRow = Selectable<MessagesTable>
