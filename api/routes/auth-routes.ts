import { Router } from '@koa/router'
import type { ApiDeps, ApiState } from '../context.ts'
import { LoginBody, RegisterBody } from '../schemas.ts'
import { parseInput } from '../validate.ts'

/**
 * Public routes: register, log in, and the key that verifies access tokens.
 * Both throttles key on the socket's remote address (the API trusts no
 * X-Forwarded-For: behind a proxy, every client counts as the proxy).
 */
export function authRoutes({ services }: ApiDeps): Router<ApiState> {
  const router = new Router<ApiState>()

  router.post('/v1/auth/register', async (ctx) => {
    const user = await services.accounts.register(parseInput(RegisterBody, ctx.request.body), { address: ctx.req.socket.remoteAddress })
    ctx.status = 201
    ctx.body = { user }
  })

  router.post('/v1/auth/login', async (ctx) => {
    ctx.body = await services.accounts.login(parseInput(LoginBody, ctx.request.body), { address: ctx.req.socket.remoteAddress })
  })

  router.get('/.well-known/jwks.json', (ctx) => {
    ctx.set('cache-control', 'public, max-age=300')
    ctx.body = { keys: [services.signingKey.publicJwk] }
  })

  return router
}
