import { z } from 'zod'
import type { ErrorCode } from '../../shared/errors.ts'
import { errorCodesOf, type Operation } from './operation.ts'
import { errorAnswer, statusOf } from './responses.ts'

type JsonObject = Record<string, unknown>

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of what a client sends (`input`) or receives (`output`). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonObject
  return rest
}

/** Path or query parameters, one per field of the object schema the route parses them with. */
function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query'): JsonObject[] {
  if (!schema) return []
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, JsonObject>; required?: string[] }
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: property,
  }))
}

/** The error answers of an operation, one per HTTP status, each naming its possible codes. */
function errorResponses(codes: ErrorCode[]): Record<string, JsonObject> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code])
  return Object.fromEntries([...byStatus].map(([status, group]) => [String(status), {
    description: `Error: ${group.map((code) => `\`${code}\``).join(', ')} (docs/ERRORS.md).`,
    content: { 'application/json': { schema: jsonSchema(errorAnswer(group), 'output') } },
  }]))
}

function describe(op: Operation): JsonObject {
  const codes = errorCodesOf(op)
  const responses: Record<string, JsonObject> = {}
  for (const [status, answer] of Object.entries(op.responses)) {
    responses[status] = answer.schema
      ? { description: answer.description, content: { [answer.contentType ?? 'application/json']: { schema: jsonSchema(answer.schema, 'output') } } }
      : { description: answer.description }
  }
  return {
    operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
    tags: [op.tag],
    summary: op.summary,
    security: op.access === 'public' ? [] : [{ bearer: [] }],
    ...(op.access === 'admin' ? { description: 'Admins only.' } : {}),
    parameters: [...parameters(op.params, 'path'), ...parameters(op.query, 'query')],
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body, 'input') } } } } : {}),
    responses: { ...responses, ...errorResponses(codes) },
    'x-error-codes': codes,
  }
}

/**
 * The OpenAPI 3.1 document of the REST API, generated from the zod schemas
 * the routes validate their input with and the response schemas the tests
 * check answers against.
 */
export function openApiDocument(operations: readonly Operation[], version: string): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {}
  for (const op of operations) {
    const path = op.path.replace(/:([A-Za-z]+)/g, '{$1}')
    paths[path] = { ...paths[path], [op.method]: describe(op) }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'mqchat REST API', version, description: 'Accounts, rooms, history, read state, search, push and administration. Realtime chat is MQTT: see docs/PROTOCOL.md.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The access token from POST /v1/auth/login.' } } },
    paths,
  }
}
