import { createServer, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { Aedes } from 'aedes'
import mqtt from 'mqtt'
import t, { type Test } from 'tap'
import { emitInCounterOrder } from '../../broker/emit-in-order.ts'
import { createLogger } from '../../shared/logger.ts'
import { sleep } from '../helpers/node.ts'

type Enqueue = (subs: unknown[], packet: { topic: string }) => Promise<unknown>

/**
 * A plain Aedes broker with the guard, whose queue writes for a topic wait
 * for that topic's gate (as a Redis write waits for its round trip), and a
 * clean client subscribed to `topics`, collecting what it gets in order.
 */
async function brokerWithGates(t: Test, topics: string[], stallMs: number) {
  const aedes = await Aedes.createBroker()
  const gates = new Map<string, Promise<unknown>>()
  const persistence = (aedes as unknown as { persistence: { outgoingEnqueueCombi: Enqueue } }).persistence
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence)
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    await gates.get(packet.topic)
    return enqueue(subs, packet)
  }
  // Topics whose publish throws in Aedes's lookup of offline subscribers, as a broken persistence would.
  const throwing = new Set<string>()
  const p = persistence as unknown as { subscriptionsByTopic(topic: string): Promise<unknown> }
  const lookUp = p.subscriptionsByTopic.bind(persistence)
  p.subscriptionsByTopic = (topic) => {
    if (throwing.has(topic)) throw new Error('persistence down')
    return lookUp(topic)
  }
  const warnings: string[] = []
  const sink = new Writable({ write(chunk, _enc, cb) { warnings.push(String(chunk)); cb() } })
  emitInCounterOrder(aedes, createLogger('warn', sink), stallMs)
  const server = createServer(aedes.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { reconnectPeriod: 0 })
  t.teardown(async () => {
    await client.endAsync(true)
    await new Promise((resolve) => server.close(resolve))
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  })
  const got: string[] = []
  client.on('message', (topic) => got.push(topic))
  await client.subscribeAsync(topics, { qos: 1 })
  const publish = (topic: string, qos: 0 | 1) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(topic), qos, retain: false, dup: false }, () => {})
  const internals = aedes as unknown as { counter: number; mq: { emit(packet: object, done: () => void): void } }
  return { gates, got, warnings, publish, internals, throwing }
}

t.test('a publish whose queue write is slow is not overtaken, so the client gets both in order', async (t) => {
  const { gates, got, publish } = await brokerWithGates(t, ['slow', 'quick', 'typing'], 2000)
  gates.set('slow', sleep(200))
  publish('slow', 1)
  publish('quick', 1)
  publish('typing', 0)
  for (let waited = 0; waited < 3000 && got.length < 3; waited += 20) await sleep(20)
  t.same(got, ['slow', 'quick', 'typing'], 'delivered in the order published (unordered, Aedes drops "slow" as a duplicate)')
})

t.test('publishes stuck in their queue writes hold the others back for the stall time only, however many', async (t) => {
  const { gates, got, warnings, publish, internals } = await brokerWithGates(t, ['stuck', 'late', 'quick'], 200)
  gates.set('stuck', new Promise(() => {}))
  let release!: () => void
  gates.set('late', new Promise<void>((resolve) => { release = resolve }))
  for (let i = 0; i < 10; i++) publish('stuck', 1)
  publish('late', 1)
  const lateCounter = internals.counter
  publish('quick', 1)
  await sleep(50)
  t.same(got, [], 'held while the stuck ones may still come')
  for (let waited = 0; waited < 3000 && got.length < 1; waited += 10) await sleep(10)
  t.same(got, ['quick'], 'let go')
  const stalls = warnings.filter((line) => line.includes('not routed in time')).map((line) => JSON.parse(line).stuck)
  t.same(stalls, [11], 'all eleven given up on at one watchdog tick (one by one, each would hold the rest a tick longer)')
  // Another node's packet with the same number is not this node's late one.
  internals.mq.emit({ cmd: 'publish', topic: 'elsewhere', payload: Buffer.alloc(0), qos: 0, brokerId: 'another-node', brokerCounter: lateCounter }, () => {})
  t.notMatch(warnings.join(''), /routed late/, 'another node\'s packet with the same number is not reported')
  release()
  for (let waited = 0; waited < 2000 && !warnings.join('').includes('routed late'); waited += 20) await sleep(20)
  t.match(warnings.join(''), /given up on was routed late/, 'one routed after it was given up on is logged')
})

// A publish that throws (here: in its persistence step, before it is routed) must not hold the next ones back.
t.test('a publish that throws does not hold back the ones after it', async (t) => {
  const { got, publish, throwing } = await brokerWithGates(t, ['boom', 'after'], 60_000)
  throwing.add('boom')
  t.throws(() => publish('boom', 1), /persistence down/, 'the throw reaches the publisher')
  publish('after', 1)
  for (let waited = 0; waited < 3000 && got.length < 1; waited += 20) await sleep(20)
  t.same(got, ['after'], 'the next publish is delivered (held, it would wait for the 60 s stall time)')
})
