import { sql, type Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationResultSet } from 'kysely/migration'
import * as initial from './migrations/0001_initial.ts'
import * as chatFeatures from './migrations/0002_chat_features.ts'
import * as admin from './migrations/0003_admin.ts'
import * as push from './migrations/0004_push.ts'
import * as commitBatch from './migrations/0005_commit_batch.ts'
import * as searchTimeOrder from './migrations/0006_search_time_order.ts'
import * as commitBatchPlan from './migrations/0007_commit_batch_plan.ts'
import * as commitBatchProbes from './migrations/0008_commit_batch_probes.ts'

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
}

/**
 * Applies every pending migration; throws if one fails. The bookkeeping
 * tables live in the connection's current schema: left unnamed, Kysely would
 * find another schema's tables in a shared database and skip creating its own.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)
  const schema = rows[0]!.schema
  const migrator = new Migrator({ db, migrationTableSchema: schema, provider: { getMigrations: async () => MIGRATIONS } })
  for (let attempt = 1; ; attempt++) {
    const result = await migrator.migrateToLatest()
    if (!result.error) return result
    if (attempt === INTROSPECTION_ATTEMPTS || !isOtherSchemaGone(result.error, schema)) throw result.error
    await new Promise((resolve) => setTimeout(resolve, 10 * attempt))
  }
}

const INTROSPECTION_ATTEMPTS = 10

/**
 * Kysely's migrator looks for its tables with a query over every schema of
 * the database: it checks the privileges on each schema by name and asks for
 * each column's sequence by table name. A schema another user of the
 * database drops meanwhile fails that query, naming the other schema
 * (`invalid_schema_name`, 3F000) or one of its tables (`undefined_table`,
 * 42P01), or no name at all when the catalog row is gone mid-scan. Nothing
 * was applied then, so the migration is simply tried again.
 */
export function isOtherSchemaGone(err: unknown, ours: string): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown }
  if (typeof message !== 'string' || message.includes(`"${ours}"`) || message.includes(`"${ours}.`)) return false
  return code === '3F000' || code === '42P01' || (code === 'XX000' && message.startsWith('could not open relation with OID'))
}
