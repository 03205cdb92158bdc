/**
 * The vanilla anchor: Aedes 1.2 with its default in-memory persistence and no
 * auth hooks, on a TCP listener with TCP_NODELAY (as mqchat's). Listens on
 * 127.0.0.1, port BENCH_AEDES_PORT (default 0 = any free port) and prints
 * {"port":N} as its first stdout line. Stops on SIGTERM/SIGINT.
 */
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const aedes = await Aedes.createBroker()
const server = createServer({ noDelay: true }, (socket) => aedes.handle(socket))
server.listen(Number(process.env['BENCH_AEDES_PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address ? address.port : null }) + '\n')
})

const stop = () => {
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
