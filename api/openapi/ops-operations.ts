import { z } from 'zod'
import type { Operation } from './operation.ts'

const Readiness = z.object({ ready: z.boolean(), checks: z.record(z.string(), z.object({ ok: z.boolean(), reason: z.string().optional() })) })

/** Probes for orchestrators and load balancers (README, Operations). */
export const PROBE_OPERATIONS: Operation[] = [
  { method: 'get', path: '/healthz', tag: 'operations', summary: 'Liveness: the process is up', access: 'public',
    responses: { 200: { description: 'Up.', schema: z.object({ status: z.literal('ok') }) } } },
  { method: 'get', path: '/readyz', tag: 'operations', summary: 'Readiness: Postgres, migrations and (clustered) Redis are fine', access: 'public',
    responses: { 200: { description: 'Ready.', schema: Readiness }, 503: { description: 'Not ready (or shutting down): the failing checks.', schema: Readiness } } },
]

/** `GET /metrics` on the API port, when `METRICS_TOKEN` is set and `METRICS_PORT` is not. */
export const METRICS_OPERATION: Operation = {
  method: 'get', path: '/metrics', tag: 'operations', summary: 'Prometheus metrics (Bearer `METRICS_TOKEN`, not a user token)', access: 'operator',
  responses: { 200: { description: 'Prometheus text exposition format.', schema: z.string(), contentType: 'text/plain; version=0.0.4' } },
}
