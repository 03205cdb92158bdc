import { ConfigError, loadConfig } from '../shared/config.ts'
import { openDatabase } from '../shared/db/database.ts'
import { createLogger } from '../shared/logger.ts'
import { migrateToLatest } from '../shared/db/migrate.ts'

/** `npm run migrate`: applies pending migrations to the configured database and exits. */
try {
  const config = loadConfig()
  const database = await openDatabase(config, createLogger(config.LOG_LEVEL))
  try {
    const result = await migrateToLatest(database.db)
    const applied = result.results?.map((r) => r.migrationName) ?? []
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n')
  } finally {
    await database.close()
  }
} catch (err) {
  process.stderr.write(`mqchat migrate: ${err instanceof ConfigError ? err.message : String(err)}\n`)
  process.exit(1)
}
