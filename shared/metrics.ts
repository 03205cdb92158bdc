import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** What the push sender reports: one call per notification handed to, or refused by, a push service. */
export interface PushMetrics {
  sent(): void
  /** `reason`: a small fixed set, e.g. `gone` (404/410), `rejected` (other 4xx), `unavailable` (5xx, network). */
  failed(reason: string): void
}

/** Told of every committed (or failed) group-commit batch; called once per batch, never per message. */
export interface WriterObserver {
  committed(batchSize: number, seconds: number): void
  failed(batchSize: number): void
}

/**
 * Tallies bumped on the hot paths as plain integer increments (no label
 * look-up, no allocation); the matching counters read them at scrape time.
 */
export interface HotCounts {
  /** PUBLISH packets from authenticated MQTT clients (messages and room events). */
  publishesReceived: number
  /** Stored messages this node handed to the broker for its subscribers. */
  messagesDelivered: number
}

/**
 * The Prometheus metrics of one node, in a registry of its own (several nodes
 * may share a process in tests). Built by the composition root and passed to
 * the adapters and the writer; nothing here is global.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly hot: HotCounts = { publishesReceived: 0, messagesDelivered: 0 }
  /** Read at scrape time: the broker sets `connections`, the composition root `writerPending`. */
  readonly sources: { connections?: () => number; writerPending?: () => number } = {}
  readonly connects: Counter<'return_code'>
  readonly authFailures: Counter<'return_code'>
  readonly refusals: Counter<'transport' | 'code'>
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>
  readonly writer: WriterObserver
  readonly push: PushMetrics

  constructor() {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry })
    const sources = this.sources
    new Gauge({ name: 'mqchat_mqtt_connections', help: 'MQTT clients connected to this node.', registers, collect() { this.set(sources.connections?.() ?? 0) } })
    new Gauge({ name: 'mqchat_write_queue_pending', help: 'Messages waiting for, or in, a group commit.', registers, collect() { this.set(sources.writerPending?.() ?? 0) } })
    this.connects = new Counter({ name: 'mqchat_mqtt_connects_total', help: 'CONNACKs sent, by return code (0 accepted).', labelNames: ['return_code'], registers })
    this.authFailures = new Counter({ name: 'mqchat_mqtt_auth_failures_total', help: 'CONNECTs refused for their credentials (4) or account (5).', labelNames: ['return_code'], registers })
    this.refusals = new Counter({ name: 'mqchat_refusals_total', help: 'Refusals by error code: MQTT error reports and unacknowledged publishes, REST error responses.', labelNames: ['transport', 'code'], registers })
    this.#hotCounter('mqchat_mqtt_publishes_received_total', 'PUBLISH packets received from authenticated MQTT clients.', 'publishesReceived')
    this.#hotCounter('mqchat_messages_delivered_total', 'Stored messages this node published to their room subscribers (once per message).', 'messagesDelivered')
    this.httpDuration = new Histogram({
      name: 'mqchat_http_request_duration_seconds', help: 'REST requests by method, route template and status.', labelNames: ['method', 'route', 'status'], registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    })
    this.writer = this.#writerObserver(registers)
    this.push = this.#pushMetrics(registers)
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  /** The content type of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType
  }

  #hotCounter(name: string, help: string, key: keyof HotCounts): void {
    const hot = this.hot
    let reported = 0
    new Counter({ name, help, registers: [this.registry], collect() {
      this.inc(hot[key] - reported)
      reported = hot[key]
    } })
  }

  #writerObserver(registers: Registry[]): WriterObserver {
    const size = new Histogram({ name: 'mqchat_write_batch_size', help: 'Messages per group-commit transaction (the sum counts every message committed).', registers, buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 5000] })
    const latency = new Histogram({ name: 'mqchat_write_commit_duration_seconds', help: 'Time to commit one group-commit transaction.', registers, buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] })
    const failures = new Counter({ name: 'mqchat_write_failures_total', help: 'Group-commit transactions that failed (a failed batch is retried message by message).', registers })
    return {
      committed(batchSize, seconds) {
        size.observe(batchSize)
        latency.observe(seconds)
      },
      failed() { failures.inc() },
    }
  }

  #pushMetrics(registers: Registry[]): PushMetrics {
    const sent = new Counter({ name: 'mqchat_push_sent_total', help: 'Web Push notifications accepted by a push service.', registers })
    const failed = new Counter({ name: 'mqchat_push_failed_total', help: 'Web Push deliveries that failed, by reason.', labelNames: ['reason'], registers })
    return { sent: () => sent.inc(), failed: (reason) => failed.inc({ reason }) }
  }
}

/** A fresh {@link Metrics} with its own registry. */
export function createMetrics(): Metrics {
  return new Metrics()
}
