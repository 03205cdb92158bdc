import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'

/** A claimed delivery: the job and the subscription it goes to. */
export interface PushJob {
  id: number
  /** This is try number `attempts` (1 for the first). */
  attempts: number
  payload: string
  subscription: { id: string; endpoint: string; keys: { p256dh: string; auth: string } }
}

/** Retry policy, from config. */
export interface RetryPolicy {
  maxAttempts: number
  /** Wait before the first retry; each further one waits twice as long. */
  baseDelayMs: number
  /** Longest wait between tries. */
  maxDelayMs: number
}

/**
 * The durable delivery queue (`push_jobs`), a Postgres table claimed with
 * `FOR UPDATE SKIP LOCKED`, so it works the same on PGlite and on a shared
 * Postgres where every node claims from it. A claimed job's `run_at` becomes
 * its lease: if the node dies mid-send, the job is claimed again once the
 * lease expires (at-least-once). A delivered job is deleted; a job out of
 * tries, or refused for good, stays as `failed` with its last error.
 */
export class PushQueue {
  readonly #db: Kysely<Database>
  readonly #policy: RetryPolicy

  constructor(db: Kysely<Database>, policy: RetryPolicy) {
    this.#db = db
    this.#policy = policy
  }

  /** Claims up to `limit` due jobs for `leaseMs`, oldest due first. */
  async claim(limit: number, leaseMs: number): Promise<PushJob[]> {
    if (limit <= 0) return []
    const { rows } = await sql<{ id: number; attempts: number; payload: string; subscription_id: string; endpoint: string; p256dh: string; auth: string }>`
      WITH claimed AS (
        UPDATE push_jobs SET state = 'running', attempts = attempts + 1, run_at = now() + ${leaseMs} * interval '1 millisecond'
        WHERE id IN (SELECT id FROM push_jobs WHERE state <> 'failed' AND run_at <= now() ORDER BY run_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
        RETURNING id, attempts, payload, subscription_id)
      SELECT c.id, c.attempts, c.payload, c.subscription_id, s.endpoint, s.p256dh, s.auth
      FROM claimed c JOIN push_subscriptions s ON s.id = c.subscription_id ORDER BY c.id`.execute(this.#db)
    return rows.map((r) => ({
      id: r.id, attempts: r.attempts, payload: r.payload,
      subscription: { id: r.subscription_id, endpoint: r.endpoint, keys: { p256dh: r.p256dh, auth: r.auth } },
    }))
  }

  /** The job was delivered: it is forgotten. */
  async complete(jobId: number): Promise<void> {
    await this.#db.deleteFrom('push_jobs').where('id', '=', jobId).execute()
  }

  /**
   * The try failed with `error`. A retryable failure with tries left is
   * queued again after the backoff (answered); otherwise the job is kept as
   * `failed` (answered undefined).
   */
  async fail(job: PushJob, error: string, retryable: boolean): Promise<Date | undefined> {
    const lastError = error.slice(0, 1000)
    if (!retryable || job.attempts >= this.#policy.maxAttempts) {
      await this.#db.updateTable('push_jobs').set({ state: 'failed', last_error: lastError }).where('id', '=', job.id).execute()
      return undefined
    }
    const delay = Math.min(this.#policy.baseDelayMs * 2 ** (job.attempts - 1), this.#policy.maxDelayMs)
    const row = await this.#db.updateTable('push_jobs')
      .set({ state: 'queued', last_error: lastError, run_at: sql<Date>`now() + ${delay} * interval '1 millisecond'` })
      .where('id', '=', job.id).returning('run_at').executeTakeFirst()
    return row?.run_at
  }

  /** Jobs kept as failed, newest first (for inspection). */
  async failed(limit = 100): Promise<Array<{ id: number; subscriptionId: string; attempts: number; lastError: string | null; payload: string }>> {
    const rows = await this.#db.selectFrom('push_jobs').select(['id', 'subscription_id', 'attempts', 'last_error', 'payload'])
      .where('state', '=', 'failed').orderBy('id', 'desc').limit(limit).execute()
    return rows.map((r) => ({ id: r.id, subscriptionId: r.subscription_id, attempts: r.attempts, lastError: r.last_error, payload: r.payload }))
  }
}
