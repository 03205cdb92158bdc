import { sql, type Kysely } from 'kysely'

/**
 * Web Push (issue 4): devices' push subscriptions, per-room mutes and a
 * per-user do-not-disturb, the collapse state of each (user, room), and the
 * durable queue of deliveries to push services.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('push_subscriptions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // One row per device: the push service's endpoint URL names it.
    .addColumn('endpoint', 'text', (c) => c.notNull().unique())
    .addColumn('p256dh', 'text', (c) => c.notNull())
    .addColumn('auth', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema.createIndex('push_subscriptions_user').on('push_subscriptions').column('user_id').execute()

  await db.schema.createTable('push_user_settings')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('do_not_disturb', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute()

  await db.schema.createTable('push_room_mutes')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('push_room_mutes_pk', ['user_id', 'room_id'])
    .execute()

  // Messages waiting to be announced to an offline member: `due_at` is when the collapsed notification goes out.
  await db.schema.createTable('push_pending')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('room_id', 'text', (c) => c.notNull().references('rooms.id').onDelete('cascade'))
    .addColumn('pending', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_sender_id', 'text')
    .addColumn('due_at', 'timestamptz')
    .addColumn('last_sent_at', 'timestamptz')
    .addPrimaryKeyConstraint('push_pending_pk', ['user_id', 'room_id'])
    .execute()
  await sql`CREATE INDEX push_pending_due ON push_pending (due_at) WHERE due_at IS NOT NULL`.execute(db)

  // The delivery queue: a running job's run_at is its lease; failed jobs stay for inspection.
  await db.schema.createTable('push_jobs')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('subscription_id', 'text', (c) => c.notNull().references('push_subscriptions.id').onDelete('cascade'))
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('queued').check(sql`state IN ('queued', 'running', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('run_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await sql`CREATE INDEX push_jobs_due ON push_jobs (run_at) WHERE state <> 'failed'`.execute(db)
  await db.schema.createIndex('push_jobs_subscription').on('push_jobs').column('subscription_id').execute()
}

/** Drops everything {@link up} made. */
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['push_jobs', 'push_pending', 'push_room_mutes', 'push_user_settings', 'push_subscriptions']) {
    await db.schema.dropTable(table).execute()
  }
}
