import type { RouterContext } from '@koa/router'
import type { Services } from '../shared/services.ts'
import type { Logger } from '../shared/logger.ts'

/** What every route may read from `ctx.state`. */
export interface ApiState {
  /** Set by `requireUser` on authenticated routes. */
  userId: string
  requestId: string
}

/** The services and settings the HTTP adapter needs. */
export interface ApiDeps {
  services: Services
  log: Logger
  /** Largest accepted JSON body, e.g. '64kb'. */
  jsonLimit: string
  /** Largest page any list route returns. */
  pageMax: number
  /** Most messages per room one sync returns. */
  syncRoomMax: number
}

/** The Koa context every route and middleware receives. */
export type ApiContext = RouterContext<ApiState>
