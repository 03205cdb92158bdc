import type { Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationResultSet } from 'kysely/migration'
import * as initial from './migrations/0001_initial.ts'

/** Every migration, by name, in the order they apply. Add new ones here. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001_initial': initial,
}

/** Applies every pending migration; throws if one fails. */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } })
  const result = await migrator.migrateToLatest()
  if (result.error) throw result.error
  return result
}
