/**
 * Scenario 2's generator (one of BENCH_LATENCY_PROCS processes): connects its
 * share of the chat clients, each subscribed to its room partner's topic,
 * says ready, and on "go" publishes its share of the total rate (QoS 1,
 * round-robin over its clients, so each client sends at an even pace) for the
 * given time. Every body starts with performance.now() at the publish; the
 * receiving client (in this same process, so the clock is the same) takes
 * the latency from the body. Both members of a room live in one process.
 */
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import mqtt, { type MqttClient } from 'mqtt'
import { messageId, readLoadConfig, sleep, type Creds } from './common.ts'

/** One chat client of scenario 2: it publishes to `topic` and subscribes to `filter` (its partner's topic). */
export interface LatencyClient {
  creds: Creds
  topic: string
  filter: string
}

/** Passed in BENCH_LOAD_CONFIG. */
export interface LatencyConfig {
  url: string
  clients: LatencyClient[]
  ratePerSec: number
  durationMs: number
  /** How long to wait for the last deliveries after the last publish. */
  drainMs: number
  /** Text after the timestamp in each body. */
  filler: string
}

/** What one generator reports. */
export interface LatencyResult {
  sent: number
  acked: number
  distinct: number
  duplicates: number
  loss: number
  /** Publish -> delivery, ms, one per distinct delivery. */
  latencies: number[]
  /** From the first to the last publish; sent / this = the rate achieved. */
  publishMs: number
  cpuMs: number
  /** This process's event-loop delay during the run (a busy generator adds to the latencies). */
  loopDelayP99Ms: number
  loopDelayMaxMs: number
  error?: string
}

const config = readLoadConfig<LatencyConfig>()
const emit = (m: object) => process.stdout.write(JSON.stringify(m) + '\n')

async function connect(c: LatencyClient): Promise<MqttClient> {
  const client = await mqtt.connectAsync(config.url, {
    ...c.creds, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 20_000, keepalive: 60, log: () => {},
    rejectUnauthorized: false, // mqchat's TLS listeners use the bench's self-signed certificate
  })
  ;(client.stream as Socket).setNoDelay?.(true) // TCP; over WebSocket the ws library sets it itself
  const granted = await client.subscribeAsync(c.filter, { qos: 1 })
  if (granted[0]?.qos !== 1) throw new Error(`subscription to ${c.filter} granted ${granted[0]?.qos}`)
  return client
}

function waitForGo(): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin })
    const timer = setTimeout(() => reject(new Error('no "go" within 10 minutes')), 600_000)
    lines.on('line', (line) => {
      if (line.trim() !== 'go') return
      clearTimeout(timer)
      lines.close()
      resolve()
    })
  })
}

async function main(): Promise<void> {
  const nonce = randomBytes(4).toString('hex')
  const clients: MqttClient[] = []
  for (let i = 0; i < config.clients.length; i += 25) clients.push(...(await Promise.all(config.clients.slice(i, i + 25).map(connect))))
  const total = Math.round((config.ratePerSec * config.durationMs) / 1000)
  const latency = new Float64Array(total).fill(Number.NaN)
  let distinct = 0
  let duplicates = 0
  let acked = 0
  let failure: string | undefined
  let running = true
  const prefix = `${nonce}-`
  for (const client of clients) {
    client.on('message', (_topic, payload) => {
      const now = performance.now()
      const parsed = JSON.parse(payload.toString()) as { id?: unknown; clientMsgId?: unknown; body?: unknown }
      const id = typeof parsed.clientMsgId === 'string' ? parsed.clientMsgId : parsed.id
      if (typeof id !== 'string' || !id.startsWith(prefix) || typeof parsed.body !== 'string') return
      const i = Number(id.slice(prefix.length))
      if (!(i >= 0 && i < total)) return
      if (!Number.isNaN(latency[i]!)) {
        duplicates++
        return
      }
      latency[i] = now - Number(parsed.body.slice(0, parsed.body.indexOf(' ')))
      distinct++
    })
    client.on('close', () => {
      if (running && !failure) failure = 'a client connection closed'
    })
    client.on('error', (err) => {
      if (!failure) failure = `client error: ${err.message}`
    })
  }
  emit({ type: 'ready' })
  await waitForGo()

  const loop = monitorEventLoopDelay({ resolution: 5 })
  loop.enable()
  const cpuStart = process.cpuUsage()
  const started = performance.now()
  let sent = 0
  let lastPublishAt = started
  const publishDue = () => {
    const due = Math.min(total, Math.floor(((performance.now() - started) * config.ratePerSec) / 1000))
    for (; sent < due; sent++) {
      const i = sent
      const now = performance.now()
      const body = `${now.toFixed(3)} ${config.filler}`
      clients[i % clients.length]!.publish(config.clients[i % clients.length]!.topic, `{"id":"${messageId(nonce, i)}","body":${JSON.stringify(body)}}`, { qos: 1 }, (err) => {
        if (err && !failure) failure = `publish failed: ${err.message}`
        else acked++
      })
      lastPublishAt = now
    }
  }
  while (sent < total && !failure) {
    publishDue()
    await sleep(2)
  }
  const drainUntil = performance.now() + config.drainMs
  while (distinct < total && !failure && performance.now() < drainUntil) await sleep(20)
  running = false
  loop.disable()
  const cpu = process.cpuUsage(cpuStart)
  const result: LatencyResult = {
    sent, acked, distinct, duplicates, loss: total - distinct,
    latencies: Array.from(latency.filter((x) => !Number.isNaN(x)), (x) => Math.round(x * 1000) / 1000),
    publishMs: lastPublishAt - started,
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
    ...(failure ? { error: failure } : {}),
  }
  emit({ type: 'result', result })
  await Promise.race([Promise.all(clients.map((c) => c.endAsync(true).catch(() => {}))), sleep(5000)])
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ type: 'fatal', error: err instanceof Error ? err.message : String(err) })
    process.exit(1)
  },
)
