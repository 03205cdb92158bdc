import pg from 'pg'

/**
 * A pg client whose promise-returning `query(text, values)` runs pg's
 * callback form underneath. Kysely calls the promise form.
 *
 * No rows, types or error codes change; only what the garbage collector
 * sees, and a failed query's stack, which is pg's own rather than the
 * caller's (Kysely appends the caller's frames). Under steady REST load,
 * pg 8.23's promise form made V8 move the rows of finished queries (row
 * objects, their strings and dates) out of the young generation. Each
 * scavenge then copied 1.3-1.5 MB of rows that were already dead, and took
 * 5-6 ms. Through the callback form: 5 KB (a bare node:http server with
 * Kysely) or 15 KB (mqchat), and under 1 ms. History pages, 2,000 requests;
 * docs/PERFORMANCE.md, "Rows that outlived their request". V8's trace
 * showed two allocation sites pretenured with every object found alive;
 * `--no-allocation-site-pretenuring` halved the copying without ending it.
 *
 * Anything else (a query config object, a cursor, a callback of the
 * caller's own) goes to pg unchanged.
 */
export class CallbackQueryClient extends pg.Client {
  readonly #answerDeadlineMs: number | undefined

  /**
   * `answerDeadlineMs` (a pool option, passed on to each client): a promise
   * query that has had no answer for this long closes its connection, which
   * fails it and every query queued behind it. The server's
   * `statement_timeout` ends a slow statement, but only a live connection
   * carries that error back: one that went silent (host gone, failover to
   * another address, a dropped link) would otherwise hold its query, and the
   * write batch or request waiting on it, for ever, since nothing is sent
   * on it for TCP to find the peer gone. Set it above `statement_timeout`.
   */
  constructor(config?: pg.ClientConfig & { answerDeadlineMs?: number }) {
    super(config)
    this.#answerDeadlineMs = config?.answerDeadlineMs
  }

  // pg's overloads cannot be restated one by one in a subclass; the arguments go to pg as they came.
  override query(textOrConfig: any, values?: any, callback?: any): any {
    if (typeof textOrConfig !== 'string' || typeof values === 'function' || callback !== undefined) return super.query(textOrConfig, values, callback)
    return new Promise((resolve, reject) => {
      const deadline = this.#answerDeadlineMs === undefined ? undefined : setTimeout(() => this.#closeSilent(), this.#answerDeadlineMs)
      super.query(textOrConfig, values, (err: Error | null, result: pg.QueryResult) => {
        clearTimeout(deadline)
        if (err) reject(err)
        else resolve(result)
      })
    })
  }

  /** Closes the connection under a query that got no answer in time; pg fails its queries with this error. */
  #closeSilent(): void {
    const stream = (this as unknown as { connection: { stream: { destroy(err: Error): void } } }).connection.stream
    stream.destroy(new Error(`Postgres gave no answer within ${this.#answerDeadlineMs} ms; connection closed`))
  }
}
