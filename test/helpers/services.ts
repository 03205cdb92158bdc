import type { Test } from 'tap'

/**
 * Set by `.ci/run`: a test that needs Postgres or Redis fails instead of
 * skipping when the service is not configured.
 */
export const SERVICES_REQUIRED = process.env['MQCHAT_REQUIRE_SERVICES'] === '1'

/** The Postgres URL for tests, or undefined to use PGlite; fails the test when CI requires Postgres and it is unset. */
export function postgresUrl(t: Test): string | undefined {
  const url = process.env['DATABASE_URL']
  if (!url && SERVICES_REQUIRED) t.fail('MQCHAT_REQUIRE_SERVICES=1 but DATABASE_URL is not set')
  return url || undefined
}

/**
 * The Redis URL, or undefined after marking the test skipped with the reason
 * (a failure instead when CI requires Redis).
 */
export function redisUrl(t: Test): string | undefined {
  const url = process.env['REDIS_URL']
  if (url) return url
  if (SERVICES_REQUIRED) t.fail('MQCHAT_REQUIRE_SERVICES=1 but REDIS_URL is not set')
  else t.skip('REDIS_URL is not set: Redis-dependent test skipped')
  return undefined
}
