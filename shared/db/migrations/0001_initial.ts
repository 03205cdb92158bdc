import { sql, type Kysely } from 'kysely'

/** Accounts, rooms, members, numbered messages and server-held keys. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('disabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await sql`CREATE UNIQUE INDEX users_username_lower ON users (lower(username))`.execute(db)

  await db.schema.createTable('rooms')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type IN ('direct', 'group')`))
    .addColumn('name', 'text')
    .addColumn('direct_key', 'text', (c) => c.unique())
    .addColumn('created_by', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_message_at', 'timestamptz')
    .execute()

  await db.schema.createTable('room_members')
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ('owner', 'member')`))
    .addColumn('joined_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('room_members_pk', ['room_id', 'user_id'])
    .execute()
  await db.schema.createIndex('room_members_user').on('room_members').columns(['user_id', 'room_id']).execute()

  await db.schema.createTable('messages')
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('sender_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('client_msg_id', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('messages_pk', ['room_id', 'seq'])
    .addUniqueConstraint('messages_client_id', ['room_id', 'sender_id', 'client_msg_id'])
    .execute()

  await db.schema.createTable('server_keys')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
}

/** Drops everything {@link up} made. */
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['server_keys', 'messages', 'room_members', 'rooms', 'users']) {
    await db.schema.dropTable(table).execute()
  }
}
