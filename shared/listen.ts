import type { Server as HttpServer } from 'node:http'
import type { AddressInfo, Server as TcpServer } from 'node:net'

/**
 * Listens on `host:port` (0: any free port) and resolves with the bound port.
 * A failure (port taken, address not local) names the variable that sets it.
 */
export function listen(server: TcpServer | HttpServer, port: number, host: string, variable: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(new Error(`${variable}=${port}: cannot listen on ${host}:${port} (${err.code ?? err.message}); choose another ${variable}`))
    server.once('error', fail)
    server.listen(port, host, () => {
      server.off('error', fail)
      resolve((server.address() as AddressInfo).port)
    })
  })
}
