/**
 * An error with a code from the server's error catalogue (docs/PROTOCOL.md),
 * or one of the SDK's own: `network` (no answer), `closed` (the client was
 * closed before the operation finished).
 */
export class ChatApiError extends Error {
  readonly code: string
  /** The HTTP status, when the error came from a REST answer. */
  readonly status: number | undefined
  readonly details: unknown

  constructor(code: string, message: string, status?: number, details?: unknown) {
    super(message)
    this.name = 'ChatApiError'
    this.code = code
    this.status = status
    this.details = details
  }

  /** Whether trying again later (with the same client message id) may succeed. */
  get retryable(): boolean {
    return this.code === 'network' || this.code === 'rate_limited' || this.code === 'server_busy' || this.code === 'internal'
  }
}
