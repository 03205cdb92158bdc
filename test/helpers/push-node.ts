import { randomBytes } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import pg from 'pg'
import type { Test } from 'tap'
import { runMain } from './process.ts'
import { postgresUrl } from './services.ts'

/** A node running as its own process (so NODE_EXTRA_CA_CERTS applies), with helpers to act as its users. */
export interface PushNode {
  lines: string[]
  http(method: string, path: string, opts?: { body?: unknown; token?: string }): Promise<{ status: number; body: any }>
  /** Registers and logs in `username`. */
  user(username: string): Promise<{ id: string; token: string }>
  /** An MQTT client of `token`'s user: online while it is connected. */
  mqtt(token: string): Promise<MqttClient>
}

/**
 * Starts `main.ts` trusting `certFile`, on a schema of its own in the
 * Postgres at DATABASE_URL (dropped afterwards) or on an in-memory PGlite;
 * stopped with SIGTERM when `t` ends.
 */
export async function startPushNode(t: Test, certFile: string, env: Record<string, string>): Promise<PushNode> {
  const databaseUrl = postgresUrl(t)
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`
  const run = runMain({
    NODE_EXTRA_CA_CERTS: certFile, DATA_DIR: 'memory://', DATABASE_URL: databaseUrl, DATABASE_SCHEMA: databaseUrl ? schema : undefined,
    REDIS_URL: undefined, LOG_LEVEL: 'info', MESSAGE_RATE_PER_MINUTE: '600000', MESSAGE_RATE_BURST: '10000', ...env,
  })
  const clients: MqttClient[] = []
  t.teardown(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})))
    run.child.kill('SIGTERM')
    await run.exited
    if (databaseUrl) {
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => client.end())
    }
  })
  const { ports } = await run.started
  const node: PushNode = {
    lines: run.lines,
    async http(method, path, opts = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (opts.token) headers['authorization'] = `Bearer ${opts.token}`
      const res = await fetch(`http://127.0.0.1:${ports.http}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
      const text = await res.text()
      return { status: res.status, body: text ? JSON.parse(text) : undefined }
    },
    async user(username) {
      const password = `password-${username}`
      const reg = await node.http('POST', '/v1/auth/register', { body: { username, password } })
      const login = await node.http('POST', '/v1/auth/login', { body: { username, password } })
      return { id: reg.body.user.id, token: login.body.accessToken }
    },
    async mqtt(token) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { username: '', password: token, reconnectPeriod: 0 })
      clients.push(client)
      return client
    },
  }
  return node
}
