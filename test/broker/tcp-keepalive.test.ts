import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import mqtt from 'mqtt'
import t from 'tap'
import { selfSignedCertificate } from '../helpers/certificate.ts'
import { startTestNode } from '../helpers/node.ts'

/*
 * MQTT_TCP_KEEPALIVE_MS: a client whose MQTT keepalive is 0 sends nothing while idle, so only TCP keepalive
 * can find its peer gone. A vanished peer cannot be made on loopback (the kernel answers the probes), so
 * this reads the server side's socket timer from `ss`: `timer:(keepalive,<left>,0)` when it is set.
 */
function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** The timers of the established sockets whose local port is `port` (the server's side). */
function serverTimers(port: number): string[] {
  const out = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' })
  return out.split('\n').filter(Boolean).map((line) => /timer:\(([^)]*)\)/.exec(line)?.[1] ?? 'none')
}

t.test('TCP keepalive on every listener, after MQTT_TCP_KEEPALIVE_MS of silence', { skip: hasSs() ? false : 'needs ss (iproute2)' }, async (t) => {
  const { certFile, keyFile } = selfSignedCertificate(t)
  const app = await startTestNode(t, { MQTT_TCP_KEEPALIVE_MS: '45000', TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, MQTTS_PORT: '0', WSS_PORT: '0' })
  const alice = await app.user('alice')
  await app.mqtt(alice.token, { keepalive: 0 })
  await app.mqtt(alice.token, { keepalive: 0, ws: true })
  const secure = { keepalive: 0, reconnectPeriod: 0, username: '', password: alice.token, ca: readFileSync(certFile) }
  const { mqtts, wss } = app.node.ports
  const tlsClients = [await mqtt.connectAsync(`mqtts://127.0.0.1:${mqtts}`, secure), await mqtt.connectAsync(`wss://127.0.0.1:${wss}${app.config.WS_PATH}`, secure)]
  t.teardown(() => Promise.all(tlsClients.map((c) => c.endAsync(true))))
  const listeners = [['TCP', app.node.ports.mqtt], ['WebSocket', app.node.ports.ws], ['TLS', mqtts!], ['secure WebSocket', wss!]] as const
  for (const [listener, port] of listeners) {
    const timers = serverTimers(port)
    t.equal(timers.length, 1, `${listener}: one connection (${timers.join(' | ')})`)
    const keepalive = /^keepalive,(\d+)sec,0$/.exec(timers[0] ?? '')
    t.ok(keepalive, `${listener}: the server's socket has a keepalive timer (${timers[0]})`)
    t.ok(Number(keepalive?.[1]) > 30 && Number(keepalive?.[1]) <= 45, `${listener}: due within MQTT_TCP_KEEPALIVE_MS (${keepalive?.[1]} s left)`)
  }
})
