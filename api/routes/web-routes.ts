import { createReadStream, existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { extname, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Next } from 'koa'
import type { ApiContext } from '../context.ts'

/** What the chat page needs to learn from the server: where MQTT over WebSocket listens. */
export interface WebOptions {
  wsPort: number
  wsPath: string
  /** The secure WebSocket port, when TLS is configured. */
  wssPort: number | null
  /** The folder served at `/` (default: the repository's `web/`). */
  root?: string
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
}
/** Paths that belong to the API and operations: never served from files, whatever the folder holds. */
const RESERVED = /^\/(v1|metrics|healthz|readyz|openapi\.json|\.well-known)(\/|$)/

/** The repository's `web/` folder, from this file's place in the sources (api/routes) or the build (dist/api/routes). */
function defaultRoot(): string {
  const candidates = ['../../web', '../../../web'].map((p) => fileURLToPath(new URL(p, import.meta.url)))
  return candidates.find((dir) => existsSync(resolve(dir, 'index.html'))) ?? candidates[0]!
}

/**
 * Serves the browser chat page (`web/`, with its bundle in `web/dist/`) at
 * `/`, and `/config.json` with the WebSocket port the page connects to.
 * Only GET and HEAD of files with a known type inside the folder; anything
 * else falls through to the API (and its 404). Decoded paths are resolved
 * and must stay inside the folder, so `..` and encoded variants cannot
 * leave it.
 */
export function webRoutes(options: WebOptions) {
  const root = resolve(options.root ?? defaultRoot())
  const config = JSON.stringify({ wsPort: options.wsPort, wsPath: options.wsPath, wssPort: options.wssPort })
  return async function serveWeb(ctx: ApiContext, next: Next): Promise<void> {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || RESERVED.test(ctx.path)) return next()
    if (ctx.path === '/config.json') {
      ctx.type = CONTENT_TYPES['.json']!
      ctx.set('cache-control', 'no-store')
      ctx.body = config
      return
    }
    let path: string
    try {
      path = decodeURIComponent(ctx.path)
    } catch {
      return next()
    }
    if (path.includes('\0')) return next()
    const file = resolve(root, `.${path.endsWith('/') ? `${path}index.html` : path}`)
    const type = CONTENT_TYPES[extname(file)]
    if (!file.startsWith(root + sep) || !type) return next()
    const info = await stat(file).catch(() => undefined)
    if (!info?.isFile()) return next()
    ctx.type = type
    ctx.length = info.size
    ctx.set('cache-control', 'no-cache')
    ctx.set('x-content-type-options', 'nosniff')
    if (type.startsWith('text/html')) ctx.set('content-security-policy', "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
    ctx.body = createReadStream(file)
  }
}
