import { execFileSync } from 'node:child_process'
import { createECDH, createDecipheriv, hkdfSync, randomBytes, type ECDH } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { createServer as createTcpServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
// Moved to node.ts for the broker tests too; re-exported for the push tests.
export { eventually } from './node.ts'

/**
 * A self-signed certificate for 127.0.0.1, made with openssl in `dir`; the
 * node trusts it through NODE_EXTRA_CA_CERTS=`certFile`.
 */
export function makeCertificate(dir: string): { certFile: string; cert: Buffer; key: Buffer } {
  const certFile = join(dir, 'push-cert.pem')
  const keyFile = join(dir, 'push-key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  return { certFile, cert: readFileSync(certFile), key: readFileSync(keyFile) }
}

/** One request the push service received. */
export interface PushRequest {
  device: string
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/**
 * A local HTTPS server playing a push service: every `POST /push/<device>`
 * is recorded and answered 201, or with the status `answer` sets for that
 * device; `hold` keeps a device's requests unanswered until `release`.
 * `stop` and `start` take it down and bring it back on the same port.
 */
export class FakePushService {
  readonly requests: PushRequest[] = []
  readonly answers = new Map<string, number>()
  readonly #held: Array<() => void> = []
  #holding = new Set<string>()
  #server: Server
  port = 0

  constructor(readonly tls: { cert: Buffer; key: Buffer }) {
    this.#server = this.#create()
  }

  #create(): Server {
    return createServer(this.tls, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const device = (req.url ?? '').replace(/^\/push\//, '')
        this.requests.push({ device, headers: req.headers, body: Buffer.concat(chunks) })
        const answer = () => res.writeHead(this.answers.get(device) ?? 201).end()
        if (this.#holding.has(device)) this.#held.push(answer)
        else answer()
      })
    })
  }

  /** Listens on `this.port` (a free one the first time). */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.port = (this.#server.address() as AddressInfo).port
  }

  /** Closes the port and every connection: the push service is down. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeAllConnections()
    await closed
    this.#server = this.#create()
  }

  /** Leaves `device`'s requests unanswered until {@link release}. */
  hold(device: string): void {
    this.#holding.add(device)
  }

  /** Requests held unanswered right now. */
  get held(): number {
    return this.#held.length
  }

  /** Answers every held request. */
  release(): void {
    this.#holding.clear()
    for (const answer of this.#held.splice(0)) answer()
  }

  /** The decrypted JSON payloads `device` has received. */
  received(device: Device): any[] {
    return this.requests.filter((r) => r.device === device.name).map((r) => JSON.parse(device.decrypt(r.body).toString('utf8')))
  }

  /** A new device subscription at this service. */
  device(name: string): Device {
    return new Device(name, `https://127.0.0.1:${this.port}/push/${name}`)
  }
}

/** A browser's side of a subscription: its own P-256 key pair and auth secret (RFC 8291). */
export class Device {
  readonly #ecdh: ECDH = createECDH('prime256v1')
  readonly #auth = randomBytes(16)
  readonly #publicKey: Buffer

  constructor(readonly name: string, readonly endpoint: string) {
    this.#publicKey = this.#ecdh.generateKeys()
  }

  /** The subscription as `PushSubscription.toJSON()` gives it. */
  get subscription(): { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } } {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: this.#publicKey.toString('base64url'), auth: this.#auth.toString('base64url') } }
  }

  /**
   * Decrypts an `aes128gcm` body (RFC 8188 framing, RFC 8291 keys) with this
   * device's private key and auth secret: one record, as web-push sends.
   */
  decrypt(body: Buffer): Buffer {
    const salt = body.subarray(0, 16)
    const idLength = body[20]!
    const senderKey = body.subarray(21, 21 + idLength)
    const record = body.subarray(21 + idLength)
    const shared = this.#ecdh.computeSecret(senderKey)
    const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), this.#publicKey, senderKey])
    const ikm = Buffer.from(hkdfSync('sha256', shared, this.#auth, keyInfo, 32))
    const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16))
    const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12))
    const decipher = createDecipheriv('aes-128-gcm', cek, nonce)
    decipher.setAuthTag(record.subarray(record.length - 16))
    const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()])
    // The last record ends with the delimiter 0x02, then zero padding.
    const end = padded.lastIndexOf(2)
    if (end < 0 || padded.subarray(end + 1).some((b) => b !== 0)) throw new Error('no last-record delimiter')
    return padded.subarray(0, end)
  }
}

/** A port of 127.0.0.1 that nothing listens on (bound, then closed): a push service that refuses connections. */
export async function closedPort(): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
