import type { Kysely } from 'kysely'

/**
 * The reserved sender of system messages. The same value as `SYSTEM_USER_ID`
 * in `shared/stores/admin-store.ts`, written out here because a migration
 * must keep doing what it did when it was first applied, whatever the code
 * it could import becomes.
 */
const SYSTEM_USER_ID = '_mqchat_sys_'

/**
 * Administration (issue 7): an `admin` flag on users, and the system user
 * that sends admins' announcements. The system user is disabled, its password
 * hash matches no password, and its username has a `$`, which registration
 * refuses: nobody can log in as it, find it, or add it to a room.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('admin', 'boolean', (c) => c.notNull().defaultTo(false)).execute()
  await db.insertInto('users')
    .values({ id: SYSTEM_USER_ID, username: '$system', display_name: 'System', password_hash: '!', disabled: true })
    .execute()
}

/** Undoes {@link up}, with the system messages. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('messages').where('sender_id', '=', SYSTEM_USER_ID).execute()
  await db.deleteFrom('users').where('id', '=', SYSTEM_USER_ID).execute()
  await db.schema.alterTable('users').dropColumn('admin').execute()
}
