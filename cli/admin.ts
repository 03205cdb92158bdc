import { pathToFileURL } from 'node:url'
import type { Kysely } from 'kysely'
import { ConfigError, loadConfig } from '../shared/config.ts'
import type { Database } from '../shared/db/schema.ts'
import { openDatabase } from '../shared/db/database.ts'
import { migrateToLatest } from '../shared/db/migrate.ts'
import { createLogger } from '../shared/logger.ts'
import { AdminStore } from '../shared/stores/admin-store.ts'

const USAGE = 'usage: npm run admin -- grant <username> | revoke <username>'

/**
 * The admin command on an open, migrated database: `grant <username>` makes
 * an existing user an admin of the service, `revoke <username>` makes them
 * a plain user again. Exit code 0 done, 1 no such user, 2 bad arguments.
 * This (with the admin routes, once one admin exists) is the only way to
 * make an admin: there is no default account or password.
 */
export async function adminCommand(db: Kysely<Database>, args: readonly string[]): Promise<{ code: 0 | 1 | 2; output: string }> {
  const [verb, username, ...rest] = args
  if ((verb !== 'grant' && verb !== 'revoke') || !username || rest.length > 0) return { code: 2, output: USAGE }
  const user = await new AdminStore(db).setAdminByUsername(username, verb === 'grant')
  if (!user) return { code: 1, output: `no user named ${JSON.stringify(username)}: register it first (POST /v1/auth/register)` }
  return { code: 0, output: `${user.username} (${user.id}) ${user.admin ? 'is now an admin' : 'is no longer an admin'}${user.disabled ? ' (the account is disabled)' : ''}` }
}

/** `npm run admin -- ...` on the configured database (the same variables as the server); migrations are applied first, as at start. */
async function main(): Promise<number> {
  try {
    const config = loadConfig()
    const database = await openDatabase(config, createLogger('warn'))
    try {
      await migrateToLatest(database.db)
      const { code, output } = await adminCommand(database.db, process.argv.slice(2))
      ;(code === 0 ? process.stdout : process.stderr).write(`${output}\n`)
      return code
    } finally {
      await database.close()
    }
  } catch (err) {
    process.stderr.write(`mqchat admin: ${err instanceof ConfigError ? err.message : String(err)}\n`)
    return 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main()
