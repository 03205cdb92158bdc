import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * Paths pino blanks out wherever they appear, so that secrets never reach a
 * log line even if an object holding them is logged by mistake.
 */
export const REDACTED_PATHS = [
  'password', '*.password', 'accessToken', '*.accessToken', 'token', '*.token',
  'authorization', '*.authorization', 'req.headers.authorization', 'headers.authorization',
  'privateKey', '*.privateKey',
]

/** A structured JSON logger at `level`; `destination` defaults to stdout. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination)
}
