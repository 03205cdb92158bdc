import { ConfigError, loadConfig } from './shared/config.ts'
import { createLogger } from './shared/logger.ts'
import { startMqchat } from './app.ts'

let config
try {
  config = loadConfig()
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`mqchat: ${err.message}\n`)
  process.exit(2)
}
const log = createLogger(config.LOG_LEVEL)

try {
  const node = await startMqchat(config, log)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down')
    // A drain that cannot finish (a database that stopped answering) must not keep the process up for ever.
    setTimeout(() => {
      log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown took longer than SHUTDOWN_TIMEOUT_MS; exiting')
      process.exit(1)
    }, config.SHUTDOWN_TIMEOUT_MS).unref()
    node.close().then(() => {
      log.info({ signal }, 'stopped')
      process.exit(0)
    }, (err: unknown) => {
      log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
} catch (err) {
  log.fatal({ err }, 'mqchat failed to start')
  process.exit(1)
}
