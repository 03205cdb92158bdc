import type { ColumnType, Generated, Selectable } from 'kysely'

/** Kysely's view of the tables; migrations in `migrations/` create them. */
export interface Database {
  users: UsersTable
  rooms: RoomsTable
  room_members: RoomMembersTable
  messages: MessagesTable
  server_keys: ServerKeysTable
}

export interface UsersTable {
  id: string
  username: string
  display_name: string
  password_hash: string
  disabled: Generated<boolean>
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

export type UserRow = Selectable<UsersTable>
export type RoomRow = Selectable<RoomsTable>
export type MessageRow = Selectable<MessagesTable>
