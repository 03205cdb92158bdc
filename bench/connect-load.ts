/**
 * Scenario 4's generator (one of BENCH_CONN_PROCS processes): opens `count`
 * raw TCP connections, each sending one MQTT 3.1.1 CONNECT (written by hand:
 * no client library, so 10,000 connections cost the generator little) and
 * waiting for its CONNACK, at most `inflight` CONNECTs outstanding. Says
 * ready, connects on "go", reports, then holds the connections idle (a
 * PINGREQ every 30 s): "count" reports how many are still open, stdin's end
 * closes them all.
 */
import { connect, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { readLoadConfig, type Creds } from './common.ts'
import { percentiles, type Percentiles } from './stats.ts'

/** Passed in BENCH_LOAD_CONFIG. */
export interface ConnectConfig {
  host: string
  port: number
  /** Used in turn, connection i takes creds[i % length]. */
  creds: Creds[]
  count: number
  inflight: number
  clientIdPrefix: string
  connectTimeoutMs: number
}

/** What one generator reports after connecting. */
export interface ConnectResult {
  connected: number
  failed: number
  /** From the first connect() to the last CONNACK. */
  elapsedMs: number
  /** TCP connect + CONNECT -> CONNACK of each accepted connection, ms. */
  connackMs: Percentiles | null
  cpuMs: number
  errors: string[]
}

const config = readLoadConfig<ConnectConfig>()
const emit = (m: object) => process.stdout.write(JSON.stringify(m) + '\n')

function mqttString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  const head = Buffer.alloc(2)
  head.writeUInt16BE(b.length)
  return Buffer.concat([head, b])
}

/** An MQTT 3.1.1 CONNECT: clean session, keepalive 60 s, optional username and password. */
export function connectPacket(clientId: string, creds: Creds): Buffer {
  const flags = 0x02 | (creds.username !== undefined ? 0x80 : 0) | (creds.password !== undefined ? 0x40 : 0)
  const parts = [Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, 0, 60]), mqttString(clientId)]
  if (creds.username !== undefined) parts.push(mqttString(creds.username))
  if (creds.password !== undefined) parts.push(mqttString(creds.password))
  const body = Buffer.concat(parts)
  const length: number[] = []
  let n = body.length
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    length.push(byte)
  } while (n > 0)
  return Buffer.concat([Buffer.from([0x10, ...length]), body])
}

const open = new Set<Socket>()

/** One connection: resolves with its CONNACK time, rejects on refusal, close or timeout. */
function connectOne(i: number): Promise<number> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const socket = connect({ host: config.host, port: config.port, noDelay: true })
    let got = Buffer.alloc(0)
    let settled = false
    const fail = (why: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(why))
    }
    const timer = setTimeout(() => fail('no CONNACK in time'), config.connectTimeoutMs)
    socket.once('connect', () => socket.write(connectPacket(`${config.clientIdPrefix}${i}`, config.creds[i % config.creds.length]!)))
    socket.on('data', (chunk: Buffer) => {
      if (settled) return
      got = Buffer.concat([got, chunk])
      if (got.length < 4) return
      if (got[0] !== 0x20 || got[3] !== 0) return fail(`CONNACK ${got.subarray(0, 4).toString('hex')}`)
      settled = true
      clearTimeout(timer)
      open.add(socket)
      resolve(performance.now() - started)
    })
    socket.on('error', (err) => fail(err.message))
    socket.on('close', () => {
      open.delete(socket)
      fail('closed before its CONNACK')
    })
  })
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })
  const commands: string[] = []
  let wake: (() => void) | null = null
  let ended = false
  lines.on('line', (line) => {
    commands.push(line.trim())
    wake?.()
  })
  lines.on('close', () => {
    ended = true
    wake?.()
  })
  const nextCommand = async (): Promise<string | null> => {
    while (commands.length === 0 && !ended) await new Promise<void>((r) => (wake = r))
    return commands.shift() ?? null
  }
  emit({ type: 'ready' })
  if ((await nextCommand()) !== 'go') return
  // Keepalive is 60 s and a broker drops a client silent for 1.5 times that: connecting 10,000 can take longer.
  const PINGREQ = Buffer.from([0xc0, 0x00])
  setInterval(() => {
    for (const socket of open) socket.write(PINGREQ)
  }, 30_000).unref()
  const cpuStart = process.cpuUsage()
  const started = performance.now()
  const times: number[] = []
  const errors: string[] = []
  let failed = 0
  let nextIndex = 0
  let lastAt = started
  await Promise.all(Array.from({ length: Math.min(config.inflight, config.count) }, async () => {
    while (nextIndex < config.count) {
      const i = nextIndex++
      try {
        times.push(await connectOne(i))
        lastAt = performance.now()
      } catch (err) {
        failed++
        if (errors.length < 3) errors.push(err instanceof Error ? err.message : String(err))
      }
    }
  }))
  const cpu = process.cpuUsage(cpuStart)
  const result: ConnectResult = { connected: times.length, failed, elapsedMs: lastAt - started, connackMs: percentiles(times), cpuMs: (cpu.user + cpu.system) / 1000, errors }
  emit({ type: 'result', result })
  for (let c = await nextCommand(); c !== null; c = await nextCommand()) {
    if (c === 'count') emit({ type: 'count', open: open.size })
  }
  for (const socket of open) socket.destroy()
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ type: 'fatal', error: err instanceof Error ? err.message : String(err) })
    process.exit(1)
  },
)
