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
  role: 'owner' | 'member'
  joined_at: Generated<Date>
}

export interface MessagesTable {
  room_id: string
  /** Number of the message within its room: 1, 2, 3… in commit order. */
  seq: number
  sender_id: string
  client_msg_id: string
  body: string
  created_at: Generated<Date>
}

export interface ServerKeysTable {
  name: string
  value: string
  created_at: Generated<Date>
}

export type UserRow = Selectable<UsersTable>
export type RoomRow = Selectable<RoomsTable>
export type MessageRow = Selectable<MessagesTable>
