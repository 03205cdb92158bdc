import { z } from 'zod'
import { ADMIN_OPERATIONS } from './admin-operations.ts'
import { CHAT_OPERATIONS } from './chat-operations.ts'
import type { Operation } from './operation.ts'
import { METRICS_OPERATION, PROBE_OPERATIONS } from './ops-operations.ts'
import { PUSH_OPERATIONS } from './push-operations.ts'

const OPENAPI_OPERATION: Operation = {
  method: 'get', path: '/openapi.json', tag: 'operations', summary: 'This document', access: 'public',
  responses: { 200: { description: 'The OpenAPI 3.1 document.', schema: z.object({ openapi: z.literal('3.1.0') }).loose() } },
}

/**
 * Every operation the API serves, for the OpenAPI document. A route added
 * without an entry here, or an entry without its route, fails
 * test/api/openapi.test.ts.
 */
export function apiOperations(opts: { metricsOnApi: boolean }): Operation[] {
  return [...CHAT_OPERATIONS, ...ADMIN_OPERATIONS, ...PUSH_OPERATIONS, ...PROBE_OPERATIONS, OPENAPI_OPERATION, ...(opts.metricsOnApi ? [METRICS_OPERATION] : [])]
}
