/** Types and small helpers shared by the bench orchestrator (run.ts) and the load generator (load.ts). */
import { readFileSync } from 'node:fs'

export type ScenarioName = 'throughput' | 'fanout' | 'wire'

/** MQTT credentials of one client; anchors connect anonymously. */
export interface Creds {
  username?: string
  password?: string
}

/** What one load-generator process is asked to do (passed as JSON in BENCH_LOAD_CONFIG). */
export interface LoadConfig {
  scenario: ScenarioName
  /** mqtt://127.0.0.1:<port> */
  url: string
  /** The topic the publisher publishes to. */
  topic: string
  /** The filter every subscriber subscribes to. */
  filter: string
  publisher: Creds
  /** One subscriber client per entry. */
  subscribers: Creds[]
  /** mqchat only: the publisher also listens to its error reports (refused publishes). */
  errorsTopic?: string
  /** Messages the publisher sends. */
  messages: number
  /** Most QoS 1 publishes outstanding at once. */
  window: number
  /**
   * When a window slot frees: `puback` as soon as the broker acknowledges the publish;
   * `delivery` once it is acknowledged and delivered to every subscriber (the wire scenario
   * uses window 1 in this mode: one message at a time, like a person chatting).
   */
  windowMode: 'puback' | 'delivery'
  /** The message body (the same for every message). */
  body: string
  /** Whole run limit, after `go`. */
  timeoutMs: number
  /** Give up when no PUBACK and no delivery has arrived for this long. */
  idleMs: number
}

/** Counters of one client socket pair, for the wire scenario. */
export interface WireCounts {
  /** MQTT bytes (all headers and payloads) written and read by the client sockets. */
  pubOut: number
  pubIn: number
  subIn: number
  subOut: number
  /** TCP segments sent and received on the two client sockets (from `ss -ti`), null if unavailable. */
  segments: number | null
}

/** What load.ts prints (one JSON line, type "result"). */
export interface LoadResult {
  sent: number
  acked: number
  publishErrors: number
  /** Messages every subscriber should get in total (messages x subscribers). */
  expected: number
  received: number
  distinct: number
  duplicates: number
  /** expected - distinct */
  loss: number
  /** From the first publish to the last distinct delivery (or to giving up). */
  elapsedMs: number
  /** Distinct deliveries per second. */
  deliveriesPerSec: number
  /** Messages per second as the publisher sent them (distinct deliveries / subscribers / s). */
  messagesPerSec: number
  /** Generator CPU during the measured phase (process.cpuUsage), ms. */
  cpuMs: number
  /** Error reports received on the publisher's errors topic (mqchat refusals). */
  refusals: number
  /** Size of the first delivered payload, bytes (the envelope for mqchat). */
  deliveredPayloadBytes: number
  /** Size of a published payload, bytes. */
  publishedPayloadBytes: number
  wire?: WireCounts
  /** Set when the run did not complete normally (timeout, closed connection). */
  error?: string
}

export type LoadMessage = { type: 'ready' } | { type: 'result'; result: LoadResult } | { type: 'fatal'; error: string }

/** Message ids: `<8 hex nonce>-<7 digits>`, fixed width so every payload of a run has the same size. */
export function messageId(nonce: string, index: number): string {
  return `${nonce}-${String(index).padStart(7, '0')}`
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The generator's config from BENCH_LOAD_CONFIG: the JSON itself, or `@<file>`
 * naming a file that holds it (1,000 clients' tokens are more than one
 * environment variable may carry: Linux caps each at 128 KiB).
 */
export function readLoadConfig<T>(): T {
  const value = process.env['BENCH_LOAD_CONFIG']
  if (!value) throw new Error('BENCH_LOAD_CONFIG is not set')
  return JSON.parse(value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value) as T
}
