import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * Keys whose values never reach a log line, at the top of a logged object
 * and inside the plain objects it holds (down to {@link SECRET_SCAN_DEPTH}
 * levels: `req.headers.authorization`), even if an object holding them is
 * logged by mistake.
 */
const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'accessToken', 'token', 'authorization', 'privateKey'])

/** How many levels of nested plain objects are searched for {@link SECRET_KEYS}. */
const SECRET_SCAN_DEPTH = 3

const CENSOR = '[redacted]'

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * `obj` itself when it holds no secret (the common case: nothing is copied),
 * otherwise a copy with every secret replaced; the caller's object is never
 * changed. Written instead of pino's `redact` option, whose wildcard paths
 * (`*.password`) cost about 6 us and 14 KB of garbage on every line, one per
 * connect and one per request (docs/PERFORMANCE.md).
 */
export function withoutSecrets(obj: Record<string, unknown>, depth = SECRET_SCAN_DEPTH): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined
  for (const key in obj) {
    const value = obj[key]
    let kept = value
    if (SECRET_KEYS.has(key)) kept = value === undefined ? value : CENSOR
    else if (depth > 1 && isPlainObject(value)) kept = withoutSecrets(value, depth - 1)
    if (kept !== value) {
      copy ??= { ...obj }
      copy[key] = kept
    }
  }
  return copy ?? obj
}

/** A structured JSON logger at `level`; `destination` defaults to stdout. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, formatters: { log: withoutSecrets } }, destination)
}
