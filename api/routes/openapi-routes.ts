import { Router } from '@koa/router'
import type { ApiState } from '../context.ts'
import { openApiDocument } from '../openapi/document.ts'
import type { Operation } from '../openapi/operation.ts'

/** `GET /openapi.json`: the OpenAPI 3.1 document of `operations`, built once. */
export function openApiRoutes(operations: readonly Operation[]): Router<ApiState> {
  const router = new Router<ApiState>()
  const document = JSON.stringify(openApiDocument(operations, '1.0.0'))
  router.get('/openapi.json', (ctx) => {
    ctx.set('cache-control', 'public, max-age=300')
    ctx.type = 'application/json'
    ctx.body = document
  })
  return router
}
