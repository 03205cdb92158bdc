import type { z } from 'zod'
import { ChatError } from '../shared/errors.ts'

/** A UTF-16 surrogate without its pair: JSON can carry one (`"\ud800"`), UTF-8 and Postgres cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * The strings in `value` that no text column can hold as sent: a NUL
 * (Postgres text refuses it, which would surface as a 500) or a lone
 * surrogate (silently stored as U+FFFD, so the data read back would differ).
 */
function unstorableText(value: unknown, path: Array<string | number> = []): Array<{ path: string; message: string }> {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return [{ path: path.join('.'), message: 'must not contain NUL characters' }]
    return LONE_SURROGATE.test(value) ? [{ path: path.join('.'), message: 'must be well-formed Unicode' }] : []
  }
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, item]) => unstorableText(item, [...path, Array.isArray(value) ? Number(key) : key]))
}

/**
 * Parses untrusted input with `schema`; throws `validation_failed` listing
 * each bad field (`details.issues`) so clients can show it. Every string
 * must also be storable text (see {@link unstorableText}), whatever the schema.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input)
  const issues = parsed.success
    ? unstorableText(parsed.data)
    : parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
  if (issues.length === 0) return parsed.data as z.output<S>
  const summary = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')
  throw new ChatError('validation_failed', summary, { issues })
}
