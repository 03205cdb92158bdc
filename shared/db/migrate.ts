import { sql, type Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationResultSet } from 'kysely/migration'
import * as initial from './migrations/0001_initial.ts'
import * as chatFeatures from './migrations/0002_chat_features.ts'
import * as admin from './migrations/0003_admin.ts'
import * as push from './migrations/0004_push.ts'
import * as commitBatch from './migrations/0005_commit_batch.ts'

/** Every migration, by name, in the order they apply. Add new ones here. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_chat_features': chatFeatures,
  '0003_admin': admin,
  '0004_push': push,
  '0005_commit_batch': commitBatch,
}

/**
 * Applies every pending migration; throws if one fails. The bookkeeping
 * tables live in the connection's current schema: left unnamed, Kysely would
 * find another schema's tables in a shared database and skip creating its own.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const { rows } = await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)
  const migrator = new Migrator({ db, migrationTableSchema: rows[0]!.schema, provider: { getMigrations: async () => MIGRATIONS } })
  const result = await migrator.migrateToLatest()
  if (result.error) throw result.error
  return result
}
