/** Node's socket errors that mean the database could not be reached or went away. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH'])

/**
 * Whether `err` says the database is unreachable or overloaded rather than
 * that the request was wrong: a socket error, a connection the pool could
 * not make or lost, SQLSTATE class 08 (connection exception), 53 (insufficient
 * resources) or 57P0x (shutdown), or a statement timeout. Such a failure is
 * worth retrying, and adapters answer it with `server_busy`, not `internal`.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || /^(08|53)[0-9A-Z]{3}$/.test(code) || /^57P0[1-4]$/.test(code) || code === '57014')) return true
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client was closed|connection is not open/i.test(message)
}
