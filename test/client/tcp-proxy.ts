import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import type { Test } from 'tap'

/** A TCP proxy a test controls, between a client and a node. */
export interface TcpProxy {
  port: number
  /** Points new connections at another port (a restarted node). */
  retarget(port: number): void
  /** Destroys every open connection, both sides, as a network cut would. */
  cut(): void
  /** While down, new connections are closed at once; `up()` accepts again. */
  down(): void
  up(): void
  /** Stops passing the node's bytes to clients (a PUBACK is lost on the way) until `cut`. */
  swallowDownstream(): void
  /** Connections accepted so far. */
  readonly accepted: number
}

/** Starts a proxy on a free port in front of `127.0.0.1:targetPort`; closed when `t` ends. */
export async function startTcpProxy(t: Test, targetPort: number): Promise<TcpProxy> {
  let target = targetPort
  let isDown = false
  let swallow = false
  let accepted = 0
  const pairs = new Set<[Socket, Socket]>()
  const server = createServer((client) => {
    if (isDown) return void client.destroy()
    accepted++
    const upstream = tcpConnect(target, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.on('data', (chunk) => upstream.write(chunk))
    upstream.on('data', (chunk) => { if (!swallow) client.write(chunk) })
    const close = () => { pairs.delete(pair); client.destroy(); upstream.destroy() }
    client.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxy: TcpProxy = {
    port: (server.address() as { port: number }).port,
    retarget(port) { target = port },
    cut() {
      for (const [a, b] of pairs) { a.destroy(); b.destroy() }
      pairs.clear()
      swallow = false
    },
    down() { isDown = true },
    up() { isDown = false },
    swallowDownstream() { swallow = true },
    get accepted() { return accepted },
  }
  t.teardown(() => {
    proxy.cut()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return proxy
}
