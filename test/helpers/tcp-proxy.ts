import net from 'node:net'

/** A TCP proxy of a test's own, to cut a service off from a node without stopping the shared service. */
export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  port: number
  /** Connections accepted and forwarded so far (not counting refused ones). */
  readonly forwarded: number
  /**
   * The outage: destroys every open connection (both sides) and, until
   * {@link restore}, refuses new ones (`refuse`: accepted and reset at once)
   * or black-holes them (`blackhole`: held open, nothing forwarded, as a
   * dead host behind a firewall looks).
   */
  cut(mode?: 'refuse' | 'blackhole'): void
  /**
   * Open connections go silent: both sides stay open and nothing more is
   * forwarded on them, as when the host behind went away without a reset.
   * New connections are forwarded as before.
   */
  freeze(): void
  /** Ends the outage: new connections are forwarded again (black-holed ones are dropped). */
  restore(): void
  close(): Promise<void>
}

/**
 * Listens on a free port of 127.0.0.1 and forwards every connection to
 * `target` (`host:port`), until cut.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<net.Socket>()
  const held = new Set<net.Socket>()
  let mode: 'forward' | 'refuse' | 'blackhole' = 'forward'
  let forwarded = 0
  const pairs = new Map<net.Socket, net.Socket>()
  const server = net.createServer((client) => {
    client.on('error', () => {})
    if (mode === 'refuse') return void client.resetAndDestroy()
    if (mode === 'blackhole') {
      held.add(client)
      client.on('close', () => held.delete(client))
      return
    }
    forwarded++
    const upstream = net.connect(target.port, target.host)
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
    client.on('close', () => { upstream.destroy(); open.delete(client); open.delete(upstream) })
    upstream.on('close', () => { client.destroy(); open.delete(client); open.delete(upstream) })
    open.add(client)
    open.add(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    pairs.set(client, upstream)
    client.on('close', () => pairs.delete(client))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    get forwarded() { return forwarded },
    cut(how = 'refuse') {
      mode = how
      for (const socket of open) socket.resetAndDestroy()
      open.clear()
    },
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
      pairs.clear()
    },
    restore() {
      mode = 'forward'
      for (const socket of held) socket.destroy()
      held.clear()
    },
    async close() {
      for (const socket of [...open, ...held]) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The host and port of a service URL (`postgres://...`, `redis://...`). */
export function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port) }
}

/** `url` with its host and port replaced by the proxy's. */
export function viaProxy(url: string, proxy: TcpProxy): string {
  const parsed = new URL(url)
  parsed.hostname = '127.0.0.1'
  parsed.port = String(proxy.port)
  return parsed.toString()
}
