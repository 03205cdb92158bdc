/**
 * The load generator: one process per scenario run, separate from the broker.
 * Reads its LoadConfig from BENCH_LOAD_CONFIG, connects and subscribes every
 * client, prints {"type":"ready"}, waits for "go" on stdin, runs, prints
 * {"type":"result",...} and exits. Every wait is bounded.
 */
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Socket } from 'node:net'
import mqtt, { type MqttClient } from 'mqtt'
import { messageId, sleep, type LoadConfig, type LoadMessage, type LoadResult, type WireCounts } from './common.ts'

const config = JSON.parse(process.env['BENCH_LOAD_CONFIG'] ?? 'null') as LoadConfig | null
if (!config) throw new Error('BENCH_LOAD_CONFIG is not set')

function emit(message: LoadMessage): void {
  process.stdout.write(JSON.stringify(message) + '\n')
}

const SETUP_TIMEOUT_MS = 60_000

async function connect(creds: { username?: string; password?: string }): Promise<MqttClient> {
  const client = await mqtt.connectAsync(config!.url, {
    ...creds,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: 60,
    log: () => {}, // MQTT.js's debug logging costs the generator ~8% CPU even when disabled
  })
  ;(client.stream as Socket).setNoDelay?.(true)
  return client
}

function socketOf(client: MqttClient): Socket {
  return client.stream as Socket
}

/** Sum of segs_out + segs_in over the established sockets whose local port is in `ports` (null when ss is unavailable). */
function tcpSegments(ports: number[]): Promise<number | null> {
  const filter = `( ${ports.map((p) => `sport = :${p}`).join(' or ')} )`
  return new Promise((resolve) => {
    execFile('ss', ['-Htin', 'state', 'established', filter], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve(null)
      let total = 0
      let found = 0
      for (const m of stdout.matchAll(/\bsegs_(?:out|in):(\d+)/g)) {
        total += Number(m[1])
        found++
      }
      resolve(found === ports.length * 2 ? total : null)
    })
  })
}

async function main(cfg: LoadConfig): Promise<void> {
  const nonce = randomBytes(4).toString('hex')
  const marker = Buffer.from(`"${nonce}-`)
  const subscriberCount = cfg.subscribers.length
  const total = cfg.messages

  // --- setup: subscribers first, then the publisher
  const subscribers: MqttClient[] = []
  for (let i = 0; i < cfg.subscribers.length; i += 20) {
    subscribers.push(...(await Promise.all(cfg.subscribers.slice(i, i + 20).map((c) => connect(c)))))
  }
  await Promise.all(subscribers.map(async (client) => {
    const granted = await client.subscribeAsync(cfg.filter, { qos: 1 })
    if (granted[0]?.qos !== 1) throw new Error(`subscription to ${cfg.filter} granted ${granted[0]?.qos}`)
  }))
  const publisher = await connect(cfg.publisher)
  let refusals = 0
  if (cfg.errorsTopic) {
    await publisher.subscribeAsync(cfg.errorsTopic, { qos: 1 })
    publisher.on('message', (topic, payload) => {
      if (topic === cfg.errorsTopic) {
        refusals++
        if (refusals <= 3) process.stderr.write(`load: refused publish: ${payload.toString()}\n`)
      }
    })
  }

  // --- payloads: {"id":"<nonce>-<7 digits>","body":<body>}, all the same size
  const head = `{"id":"`
  const tail = `","body":${JSON.stringify(cfg.body)}}`
  const payloadOf = (i: number) => Buffer.from(head + messageId(nonce, i) + tail)
  const publishedPayloadBytes = payloadOf(0).length

  // --- counting: every (subscriber, message) pair at most once
  const seen = subscribers.map(() => new Uint8Array(total))
  const deliveredTo = new Uint16Array(total)
  const acked = new Uint8Array(total)
  const expected = total * subscriberCount
  let received = 0
  let distinct = 0
  let duplicates = 0
  let deliveredPayloadBytes = 0
  let lastDistinctAt = 0
  let lastAckAt = 0
  let failure: string | undefined

  let wake: (() => void) | null = null
  const poke = () => {
    const w = wake
    wake = null
    w?.()
  }

  const indexIn = (payload: Buffer): number => {
    const at = payload.indexOf(marker)
    if (at < 0) return -1
    let n = 0
    for (let p = at + marker.length, end = p + 7; p < end; p++) {
      const digit = payload[p]! - 48
      if (digit < 0 || digit > 9) return -1
      n = n * 10 + digit
    }
    return n < total ? n : -1
  }

  // --- the publisher's window
  let next = 0
  let outstanding = 0
  let sent = 0
  let ackedCount = 0
  let publishErrors = 0
  let running = false
  const delivery = cfg.windowMode === 'delivery'
  const release = () => {
    outstanding--
    pump()
  }
  const pump = () => {
    while (running && outstanding < cfg.window && next < total) {
      const i = next++
      outstanding++
      sent++
      publisher.publish(cfg.topic, payloadOf(i), { qos: 1 }, (err) => {
        if (err) {
          publishErrors++
          if (!failure) failure = `publish failed: ${err.message}`
          release()
          poke()
          return
        }
        ackedCount++
        lastAckAt = performance.now()
        acked[i] = 1
        if (!delivery || deliveredTo[i] === subscriberCount) release()
        if (ackedCount + publishErrors === total) poke()
      })
    }
  }

  subscribers.forEach((client, s) => {
    const mine = seen[s]!
    client.on('message', (_topic, payload) => {
      received++
      const i = indexIn(payload)
      if (i < 0) return
      if (mine[i]) {
        duplicates++
        return
      }
      mine[i] = 1
      distinct++
      lastDistinctAt = performance.now()
      if (deliveredPayloadBytes === 0) {
        deliveredPayloadBytes = payload.length
        const parsed = JSON.parse(payload.toString()) as { body?: unknown }
        if (parsed.body !== cfg.body) failure = `delivered body differs: ${payload.toString()}`
      }
      if (++deliveredTo[i]! === subscriberCount && delivery && acked[i]) release()
      if (distinct === expected) poke()
    })
  })
  for (const client of [publisher, ...subscribers]) {
    client.on('close', () => {
      if (running && !failure) failure = client === publisher ? 'publisher connection closed' : 'a subscriber connection closed'
      poke()
    })
    client.on('error', (err) => {
      if (!failure) failure = `client error: ${err.message}`
      poke()
    })
  }

  // --- ready; wait for go
  emit({ type: 'ready' })
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: process.stdin })
    const timer = setTimeout(() => reject(new Error('no "go" within the setup timeout')), SETUP_TIMEOUT_MS)
    lines.on('line', (line) => {
      if (line.trim() === 'go') {
        clearTimeout(timer)
        lines.close()
        resolve()
      }
    })
  })

  const wireSockets = [socketOf(publisher), socketOf(subscribers[0]!)]
  const bytesBefore = wireSockets.map((s) => ({ w: s.bytesWritten, r: s.bytesRead }))
  const segmentsBefore = cfg.scenario === 'wire' ? await tcpSegments(wireSockets.map((s) => s.localPort!)) : null

  const cpuStart = process.cpuUsage()
  const started = performance.now()
  const deadline = started + cfg.timeoutMs
  running = true
  pump()
  const tick = setTimeout(poke, 100)
  while (distinct < expected && !failure) {
    const now = performance.now()
    if (now > deadline) {
      failure = `timeout after ${cfg.timeoutMs} ms`
      break
    }
    if (now - Math.max(started, lastAckAt, lastDistinctAt) > cfg.idleMs) {
      failure = `no PUBACK and no delivery for ${cfg.idleMs} ms`
      break
    }
    // Woken at completion, on a failure, at the last PUBACK, or by this 100 ms tick.
    await new Promise<void>((resolve) => {
      wake = resolve
      tick.refresh()
    })
  }
  running = false
  clearTimeout(tick)
  const end = distinct === expected ? lastDistinctAt : performance.now()
  const elapsedMs = end - started
  const cpu = process.cpuUsage(cpuStart)

  let wire: WireCounts | undefined
  if (cfg.scenario === 'wire') {
    await sleep(300) // the subscriber's last PUBACK and the last TCP ACKs
    const segmentsAfter = await tcpSegments(wireSockets.map((s) => s.localPort!))
    const [pub, sub] = wireSockets.map((s, k) => ({ w: s.bytesWritten - bytesBefore[k]!.w, r: s.bytesRead - bytesBefore[k]!.r }))
    wire = {
      pubOut: pub!.w, pubIn: pub!.r, subIn: sub!.r, subOut: sub!.w,
      segments: segmentsBefore === null || segmentsAfter === null ? null : segmentsAfter - segmentsBefore,
    }
  }

  const result: LoadResult = {
    sent, acked: ackedCount, publishErrors, expected, received, distinct, duplicates, loss: expected - distinct,
    elapsedMs,
    deliveriesPerSec: distinct / (elapsedMs / 1000),
    messagesPerSec: distinct / subscriberCount / (elapsedMs / 1000),
    cpuMs: (cpu.user + cpu.system) / 1000,
    refusals, deliveredPayloadBytes, publishedPayloadBytes, wire,
    ...(failure ? { error: failure } : {}),
  }
  emit({ type: 'result', result })
  await Promise.race([
    Promise.all([publisher, ...subscribers].map((c) => c.endAsync(true).catch(() => {}))),
    sleep(5000),
  ])
}

const hardStop = setTimeout(() => {
  emit({ type: 'fatal', error: 'load generator hard time limit reached' })
  process.exit(3)
}, config.timeoutMs + SETUP_TIMEOUT_MS * 2)
hardStop.unref()

main(config).then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ type: 'fatal', error: err instanceof Error ? err.message : String(err) })
    process.exit(1)
  },
)
