import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
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
 * Test options for a test that needs Redis: skipped with the reason when
 * REDIS_URL is unset, failed instead when CI requires the service.
 */
export function onlyWithRedis(): { skip: string | false } {
  if (process.env['REDIS_URL']) return { skip: false }
  return { skip: SERVICES_REQUIRED ? false : 'REDIS_URL is not set: Redis-dependent test skipped' }
}

/** The Redis URL; fails the test when it is unset (pair with {@link onlyWithRedis}). */
export function redisUrl(t: Test): string {
  const url = process.env['REDIS_URL']
  if (!url) t.fail('REDIS_URL is not set')
  return url ?? 'redis://127.0.0.1:6379'
}

/**
 * Test options for a test that only means something against real Postgres:
 * skipped with the reason when DATABASE_URL is unset, run (and failed by
 * {@link postgresUrl}) when CI requires the service.
 */
export function onlyWithPostgres(): { skip: string | false } {
  return { skip: process.env['DATABASE_URL'] || SERVICES_REQUIRED ? false : 'DATABASE_URL is not set: real-Postgres test skipped' }
}

/**
 * A Redis key prefix of this test's own (nodes sharing it form one
 * cluster), whose keys are deleted when `t` ends.
 */
export function redisPrefix(t: Test, url: string): string {
  const prefix = `mqchat-test:${randomBytes(4).toString('hex')}:`
  t.teardown(async () => {
    const redis = new Redis(url)
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return prefix
}
