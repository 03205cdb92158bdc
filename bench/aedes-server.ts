/**
 * The vanilla anchor: Aedes 1.2 with its default in-memory persistence and no
 * auth hooks, on a TCP listener with TCP_NODELAY (as mqchat's), or without it
 * when BENCH_AEDES_NODELAY=0 (Nagle's algorithm left on, as Node's default;
 * scenario 2 shows both). Listens on 127.0.0.1, port BENCH_AEDES_PORT
 * (default 0 = any free port) and prints {"port":N} as its first stdout line.
 * A "mem" line on stdin prints {"memory":process.memoryUsage()}; a "gc" line runs a
 * full garbage collection (with --expose-gc) and prints {"gc":true}. Stops on
 * SIGTERM/SIGINT.
 */
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { Aedes } from 'aedes'

const noDelay = process.env['BENCH_AEDES_NODELAY'] !== '0'
const aedes = await Aedes.createBroker()
const server = createServer({ noDelay }, (socket) => aedes.handle(socket))
server.listen(Number(process.env['BENCH_AEDES_PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address ? address.port : null, noDelay }) + '\n')
})

// stdin is 'ignore' (/dev/null) for callers that do not ask: it just ends.
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'mem') process.stdout.write(JSON.stringify({ memory: process.memoryUsage() }) + '\n')
  if (line.trim() === 'gc') {
    // Started with --expose-gc by the bench; twice, as V8 may need a second pass to free what the first found.
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    gc?.()
    process.stdout.write(JSON.stringify({ gc: gc !== undefined }) + '\n')
  }
})

const stop = () => {
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
