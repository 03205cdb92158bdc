import pg from 'pg'

/**
 * A pg client whose promise-returning `query(text, values)` runs pg's
 * callback form underneath. Kysely calls the promise form.
 *
 * This changes no result, only what the garbage collector sees. Under
 * steady REST load, pg's own promise form made V8 move a query's rows
 * (row objects, their strings and dates) out of the young generation. Each
 * scavenge then copied about 1.3-1.5 MB of rows that were already dead, and
 * took 5-6 ms. Through the callback form: 5 KB and under 1 ms. (History
 * pages, a bare node:http server with Kysely, 2,000 requests;
 * docs/PERFORMANCE.md, "Rows that outlived their request".) V8's trace
 * showed two allocation sites being pretenured with every object found
 * alive; `--no-allocation-site-pretenuring` halved the copying without
 * ending it.
 *
 * Anything else (a query config object, a cursor, a callback of the
 * caller's own) goes to pg unchanged.
 */
export class CallbackQueryClient extends pg.Client {
  // pg's overloads cannot be restated one by one in a subclass; the arguments go to pg as they came.
  override query(config: any, values?: any, callback?: any): any {
    if (typeof config !== 'string' || typeof values === 'function' || callback !== undefined) return super.query(config, values, callback)
    return new Promise((resolve, reject) => {
      super.query(config, values, (err: Error | null, result: pg.QueryResult) => (err ? reject(err) : resolve(result)))
    })
  }
}
