import type { Test } from 'tap'

/** A REST answer as the test nodes' `http` helpers return it. */
export interface RestAnswer {
  status: number
  body: any
  headers: Record<string, string>
}

/**
 * Asserts that `res` is a throttle's refusal: 429 `rate_limited` with
 * `details.retryAfterMs` and a `Retry-After` header in whole seconds that
 * agrees with it. Answers `retryAfterMs`, to wait for the refill.
 */
export function expectThrottled(t: Test, res: RestAnswer, what: string): number {
  t.same([res.status, res.body?.error?.code], [429, 'rate_limited'], `${what}: 429 rate_limited`)
  const retryAfterMs = res.body?.error?.details?.retryAfterMs
  t.ok(Number.isInteger(retryAfterMs) && retryAfterMs > 0, `${what}: details.retryAfterMs (${retryAfterMs})`)
  t.match(res.headers['retry-after'], /^[1-9][0-9]*$/, `${what}: a Retry-After header in whole seconds (${res.headers['retry-after']})`)
  t.equal(Number(res.headers['retry-after']), Math.ceil(retryAfterMs / 1000), `${what}: Retry-After agrees with retryAfterMs`)
  return retryAfterMs
}
