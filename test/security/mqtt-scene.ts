import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Test } from 'tap'
import { collect, sleep, startTestNode, type TestNode } from '../helpers/node.ts'
import { destroyRawConnections } from './mqtt-raw.ts'

/** Heap in use after a full garbage collection, in bytes. */
export function heapAfterGc(): number {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/**
 * Healthy traffic alongside the hostile clients: Alice (MQTT.js) sends a
 * QoS 1 message every `everyMs` to a room Bob (MQTT.js) listens to.
 * `stop()` ends it and returns what Alice sent and Bob received.
 */
async function startChatter(t: Test, app: TestNode, everyMs = 25) {
  const alice = await app.user('alice')
  const bob = await app.user('bob')
  const room = await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })
  const roomId: string = room.body.room.id
  const sender = await app.mqtt(alice.token, { clientId: 'chatter-alice' })
  const listener = await app.mqtt(bob.token, { clientId: 'chatter-bob' })
  await listener.subscribeAsync(`chat/${roomId}/+`, { qos: 1 })
  const received = collect(listener)
  const sent: string[] = []
  let running = true
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const id = `chatter-${i}`
      await sender.publishAsync(`chat/${roomId}/${alice.id}`, JSON.stringify({ id, body: `healthy ${i}` }), { qos: 1 })
      sent.push(id)
      await sleep(everyMs)
    }
  })()
  t.teardown(() => { running = false })
  return {
    alice, roomId,
    async stop(): Promise<{ sent: string[]; received: string[] }> {
      running = false
      await loop
      const deadline = Date.now() + 10_000
      while (received.length < sent.length && Date.now() < deadline) await sleep(20)
      return { sent, received: received.map((m) => m.payload.clientMsgId as string) }
    },
  }
}

/** Every stored message's client message id, room by room in order. */
async function storedClientMsgIds(app: TestNode): Promise<string[]> {
  const rows = await app.node.database.db.selectFrom('messages').select(['client_msg_id', 'room_id', 'seq']).orderBy('room_id').orderBy('seq').execute()
  return rows.map((r) => r.client_msg_id)
}

/**
 * A node (CONNECT timeout 1 s) with healthy chatter running. `unharmed` stops
 * the chatter and checks what hostile input must not have changed: every
 * healthy message arrived, nothing else was stored, new clients connect, no
 * hostile connection lingers, and the heap grew by less than 64 MB.
 */
export async function hostileScene(t: Test) {
  const app = await startTestNode(t, { MQTT_CONNECT_TIMEOUT_MS: '1000' })
  t.teardown(destroyRawConnections)
  const chatter = await startChatter(t, app)
  const heapBefore = heapAfterGc()
  const unharmed = (t: Test) => t.test('afterwards: the node serves, others were unaffected, nothing was stored, memory is bounded', async (t) => {
    const { sent, received } = await chatter.stop()
    t.ok(sent.length > 20, `the healthy client kept sending throughout (${sent.length} messages)`)
    t.same(received, sent, 'and every one of its messages arrived, in order')
    t.same(await storedClientMsgIds(app), sent, 'only the healthy messages were stored')
    const late = await app.mqtt(chatter.alice.token)
    t.ok(late.connected, 'a new client still connects')
    await late.endAsync()
    destroyRawConnections()
    for (let i = 0; i < 50 && app.node.broker.aedes.connectedClients > 2; i++) await sleep(100)
    t.equal(app.node.broker.aedes.connectedClients, 2, 'the broker holds only the two healthy clients')
    const grown = heapAfterGc() - heapBefore
    t.ok(grown < 64 * 1024 * 1024, `heap grew by ${Math.round(grown / 1024)} kB (bound 64 MB)`)
  })
  return { app, alice: chatter.alice, roomId: chatter.roomId, unharmed }
}
