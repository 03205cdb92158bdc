import { sql, type DatabaseIntrospector, type Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationResultSet } from 'kysely/migration'
import * as initial from './migrations/0001_initial.ts'
import * as chatFeatures from './migrations/0002_chat_features.ts'
import * as admin from './migrations/0003_admin.ts'
import * as push from './migrations/0004_push.ts'
import * as commitBatch from './migrations/0005_commit_batch.ts'
import * as searchTimeOrder from './migrations/0006_search_time_order.ts'
import * as commitBatchPlan from './migrations/0007_commit_batch_plan.ts'
import * as commitBatchProbes from './migrations/0008_commit_batch_probes.ts'
import * as messagesParentsChecked from './migrations/0009_messages_parents_checked.ts'
import * as searchPendingList from './migrations/0010_search_pending_list.ts'
import * as lastMessageAtMonotonic from './migrations/0011_last_message_at_monotonic.ts'
import * as searchGramsBackfill from './migrations/0012_search_grams_backfill.ts'

/** Every migration, by name, in the order they apply. Add new ones here. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_chat_features': chatFeatures,
  '0003_admin': admin,
  '0004_push': push,
  '0005_commit_batch': commitBatch,
  '0006_search_time_order': searchTimeOrder,
  '0007_commit_batch_plan': commitBatchPlan,
  '0008_commit_batch_probes': commitBatchProbes,
  '0009_messages_parents_checked': messagesParentsChecked,
  '0010_search_pending_list': searchPendingList,
  '0011_last_message_at_monotonic': lastMessageAtMonotonic,
  '0012_search_grams_backfill': searchGramsBackfill,
}

/**
 * Applies every pending migration; throws if one fails. The bookkeeping
 * tables live in the connection's current schema: left unnamed, Kysely would
 * find another schema's tables in a shared database and skip creating its own.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)
  const schema = rows[0]!.schema
  const migrator = new Migrator({ db: withSchemaIntrospection(db, schema), migrationTableSchema: schema, provider: { getMigrations: async () => MIGRATIONS } })
  const result = await migrator.migrateToLatest()
  if (result.error) throw result.error
  return result
}

/**
 * `db`, whose introspection sees only `schema`. Kysely's migrator asks the
 * introspector whether its schema and tables exist, and Kysely's Postgres
 * introspector reads every schema of the database, checking privileges and
 * sequences by name: a schema another user of the database dropped meanwhile
 * failed the whole migration (`invalid_schema_name`), as tests dropping
 * theirs in parallel showed. The migrator needs no other schema's tables.
 */
function withSchemaIntrospection(db: Kysely<any>, schema: string): Kysely<any> {
  const introspection: DatabaseIntrospector = {
    getSchemas: async () => [{ name: schema }],
    getTables: async () => {
      const { rows } = await sql<{ name: string; kind: string }>`
        SELECT c.relname AS name, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'p', 'v', 'f')`.execute(db)
      return rows.map((row) => ({ name: row.name, schema, isView: row.kind === 'v', isForeign: row.kind === 'f', columns: [] }))
    },
  }
  // A Proxy, not a subclass: Kysely keeps its state in private fields, so every other member is the original's, bound to it.
  return new Proxy(db, {
    get(target, property) {
      if (property === 'introspection') return introspection
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
