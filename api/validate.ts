import type { z } from 'zod'
import { ChatError } from '../shared/errors.ts'

/**
 * Parses untrusted input with `schema`; throws `validation_failed` listing
 * each bad field (`details.issues`) so clients can show it.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input)
  if (parsed.success) return parsed.data
  const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')
  throw new ChatError('validation_failed', summary, { issues })
}
