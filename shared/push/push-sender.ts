import webpush from 'web-push'
import type { PushJob } from './push-queue.ts'
import type { VapidKeys } from './vapid-keys.ts'

/** How one try at a push service ended. */
export type SendOutcome =
  | { kind: 'sent' }
  /** 404/410: the subscription expired or was revoked; it must be deleted. */
  | { kind: 'gone' }
  | { kind: 'failed'; error: string; retryable: boolean }

/** How long a push service keeps a notification for a device that is offline (seconds): a day. */
const TTL_SECONDS = 24 * 60 * 60

/** Sends a job's payload, encrypted (RFC 8291, aes128gcm) and VAPID-signed, to its subscription's push service. */
export type PushSender = (job: PushJob) => Promise<SendOutcome>

/**
 * A {@link PushSender} over `web-push`. A service that stays silent for
 * `timeoutMs` fails the try (retryable), as do network errors, 5xx, 408 and
 * 429; other 4xx answers would fail again and are not retried.
 */
export function webPushSender(vapid: VapidKeys, timeoutMs: number): PushSender {
  const vapidDetails = { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey }
  return async (job) => {
    try {
      await webpush.sendNotification(job.subscription, job.payload, { vapidDetails, TTL: TTL_SECONDS, timeout: timeoutMs, contentEncoding: 'aes128gcm', urgency: 'high' })
      return { kind: 'sent' }
    } catch (err) {
      return classify(err)
    }
  }
}

function classify(err: unknown): SendOutcome {
  if (err instanceof webpush.WebPushError) {
    const status = err.statusCode
    if (status === 404 || status === 410) return { kind: 'gone' }
    const retryable = status >= 500 || status === 408 || status === 429
    return { kind: 'failed', error: `push service answered ${status}: ${String(err.body ?? '').slice(0, 200)}`, retryable }
  }
  // Network errors, timeouts, and a key the device gave us that cannot be used (reported, then kept as failed after the tries).
  return { kind: 'failed', error: err instanceof Error ? err.message : String(err), retryable: true }
}
