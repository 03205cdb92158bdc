import type { z } from 'zod'
import type { ErrorCode } from '../../shared/errors.ts'

/** Who may call an operation: anyone, a logged-in user, an admin, or whoever holds the operations token (`METRICS_TOKEN`). */
export type Access = 'public' | 'user' | 'admin' | 'operator'

/** One REST operation as the OpenAPI document describes it. */
export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete'
  /** In Koa's form (`/v1/rooms/:roomId`), as the router registers it. */
  path: string
  tag: string
  summary: string
  access: Access
  /** The schemas the route itself parses its input with. */
  params?: z.ZodObject
  query?: z.ZodObject
  body?: z.ZodType
  /** Successful answers by status; a status without a schema has no body. */
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>
  /** Refusals particular to the route; the ones its access and input imply are added. */
  errors?: ErrorCode[]
}

/**
 * Every code an operation can answer with: its own, plus those that follow
 * from how it is reached (a token and its request budget, an admin role, input to validate).
 */
export function errorCodesOf(op: Operation): ErrorCode[] {
  const codes = new Set<ErrorCode>(op.errors ?? [])
  if (op.access !== 'public') codes.add('unauthenticated')
  if (op.access === 'user' || op.access === 'admin') codes.add('rate_limited') // HTTP_REQUESTS_PER_MINUTE, counted per user
  if (op.access === 'admin') codes.add('forbidden')
  if (op.params || op.query || op.body) codes.add('validation_failed')
  if (op.body) {
    codes.add('bad_request')
    codes.add('payload_too_large')
  }
  codes.add('internal')
  return [...codes].sort()
}
