import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/schema.ts'
import { newId } from '../ids.ts'

/** A device's subscription as a browser's `PushSubscription.toJSON()` gives it. */
export interface SubscriptionInput {
  endpoint: string
  keys: { p256dh: string; auth: string }
}

/** A stored subscription as its owner sees it (the keys are never echoed back). */
export interface SubscriptionView {
  id: string
  endpoint: string
  createdAt: string
}

/** The queries behind push subscriptions, room mutes and do-not-disturb. */
export class PushStore {
  readonly #db: Kysely<Database>

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  /**
   * Stores `input` for `userId`. The endpoint names the device: subscribing
   * it again replaces its keys, and moves it to `userId` if another account
   * had it (the same browser, now signed in as someone else). A user holds at
   * most `maxPerUser` subscriptions: a new endpoint beyond that is not stored
   * and the answer is `undefined`; one the user already has is always updated.
   * The count is taken under the user row's lock (`FOR NO KEY UPDATE`), so
   * concurrent subscribes of one user, from any node, go one at a time and
   * cannot together pass the cap.
   */
  async subscribe(userId: string, input: SubscriptionInput, maxPerUser: number): Promise<SubscriptionView | undefined> {
    return this.#db.transaction().execute(async (tx) => {
      await tx.selectFrom('users').select('id').where('id', '=', userId).forNoKeyUpdate().executeTakeFirst()
      // A statement after the lock: under READ COMMITTED it sees every subscribe committed before the lock was granted.
      const { rows: [held] } = await sql<{ n: number; has: boolean }>`
        SELECT count(*)::int AS n, coalesce(bool_or(endpoint = ${input.endpoint}), false) AS has
        FROM push_subscriptions WHERE user_id = ${userId}`.execute(tx)
      if (held && !held.has && held.n >= maxPerUser) return undefined
      const row = await tx.insertInto('push_subscriptions')
        .values({ id: newId(), user_id: userId, endpoint: input.endpoint, p256dh: input.keys.p256dh, auth: input.keys.auth })
        .onConflict((oc) => oc.column('endpoint').doUpdateSet((eb) => ({
          user_id: eb.ref('excluded.user_id'), p256dh: eb.ref('excluded.p256dh'), auth: eb.ref('excluded.auth'),
        })))
        .returning(['id', 'endpoint', 'created_at']).executeTakeFirstOrThrow()
      return { id: row.id, endpoint: row.endpoint, createdAt: row.created_at.toISOString() }
    })
  }

  /** Removes `userId`'s subscription at `endpoint`; false when they had none there. */
  async unsubscribe(userId: string, endpoint: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('push_subscriptions').where('user_id', '=', userId).where('endpoint', '=', endpoint).executeTakeFirst()
    return result.numDeletedRows > 0n
  }

  /** Deletes a subscription the push service reported gone (404/410); its queued deliveries go with it. */
  async remove(subscriptionId: string): Promise<void> {
    await this.#db.deleteFrom('push_subscriptions').where('id', '=', subscriptionId).execute()
  }

  /** `userId`'s subscriptions, oldest first. */
  async list(userId: string): Promise<SubscriptionView[]> {
    const rows = await this.#db.selectFrom('push_subscriptions').select(['id', 'endpoint', 'created_at'])
      .where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute()
    return rows.map((r) => ({ id: r.id, endpoint: r.endpoint, createdAt: r.created_at.toISOString() }))
  }

  /** Mutes or unmutes `roomId` for `userId`. */
  async setRoomMuted(userId: string, roomId: string, muted: boolean): Promise<void> {
    if (muted) await this.#db.insertInto('push_room_mutes').values({ user_id: userId, room_id: roomId }).onConflict((oc) => oc.doNothing()).execute()
    else await this.#db.deleteFrom('push_room_mutes').where('user_id', '=', userId).where('room_id', '=', roomId).execute()
  }

  /** Whether `userId` muted `roomId`. */
  async isRoomMuted(userId: string, roomId: string): Promise<boolean> {
    const row = await this.#db.selectFrom('push_room_mutes').select('room_id').where('user_id', '=', userId).where('room_id', '=', roomId).executeTakeFirst()
    return row !== undefined
  }

  /** Turns `userId`'s do-not-disturb on or off. */
  async setDoNotDisturb(userId: string, on: boolean): Promise<void> {
    await this.#db.insertInto('push_user_settings').values({ user_id: userId, do_not_disturb: on })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ do_not_disturb: on })).execute()
  }

  /** Whether `userId` has do-not-disturb on. */
  async doNotDisturb(userId: string): Promise<boolean> {
    const row = await this.#db.selectFrom('push_user_settings').select('do_not_disturb').where('user_id', '=', userId).executeTakeFirst()
    return row?.do_not_disturb ?? false
  }

  /**
   * Of the (user, room) pairs, those a push could reach and may: the user
   * has a subscription, is not disabled, has no do-not-disturb, and has not muted the room. One
   * query for the whole batch.
   */
  async reachable(pairs: ReadonlyArray<{ userId: string; roomId: string }>): Promise<Array<{ userId: string; roomId: string }>> {
    if (pairs.length === 0) return []
    const { rows } = await sql<{ user_id: string; room_id: string }>`
      SELECT c.user_id, c.room_id FROM unnest(${pairs.map((p) => p.userId)}::text[], ${pairs.map((p) => p.roomId)}::text[]) AS c(user_id, room_id)
      WHERE EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = c.user_id)
        AND NOT EXISTS (SELECT 1 FROM users d WHERE d.id = c.user_id AND d.disabled)
        AND NOT EXISTS (SELECT 1 FROM push_user_settings u WHERE u.user_id = c.user_id AND u.do_not_disturb)
        AND NOT EXISTS (SELECT 1 FROM push_room_mutes m WHERE m.user_id = c.user_id AND m.room_id = c.room_id)`.execute(this.#db)
    return rows.map((r) => ({ userId: r.user_id, roomId: r.room_id }))
  }
}
