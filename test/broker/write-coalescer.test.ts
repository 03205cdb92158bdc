import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { Aedes } from 'aedes'
import mqttPacket from 'mqtt-packet'
import t, { type Test } from 'tap'
import { startMqttListeners } from '../../broker/listeners.ts'
import { WriteCoalescer } from '../../broker/write-coalescer.ts'
import { createLogger } from '../../shared/logger.ts'

/** Counts the writes a socket hands to the kernel (each `_write` or `_writev` is one system call). */
function countSends(socket: Socket): { count: number } {
  const sends = { count: 0 }
  const internals = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void }
  const write = internals._write.bind(socket)
  const writev = internals._writev.bind(socket)
  internals._write = (...a) => { sends.count++; write(...a) }
  internals._writev = (...a) => { sends.count++; writev(...a) }
  return sends
}

/** A connected pair of TCP sockets on 127.0.0.1: the server's end and the client's. */
async function socketPair(t: Test): Promise<{ server: Socket; client: Socket }> {
  const accepted = new Promise<Socket>((resolve) => {
    const listener = createServer((socket) => resolve(socket)).listen(0, '127.0.0.1', () => {
      client = connect((listener.address() as AddressInfo).port, '127.0.0.1')
    })
    t.teardown(() => listener.close())
  })
  let client!: Socket
  const server = await accepted
  t.teardown(() => { server.destroy(); client.destroy() })
  return { server, client }
}

/** Writes `count` packets the way Aedes does: each from a tick of its own, each corked by mqtt-packet until the next tick. */
function writeFromSuccessiveTicks(socket: Socket, count: number): Promise<void> {
  return new Promise((resolve) => {
    let i = 0
    const step = () => {
      mqttPacket.writeToStream({ cmd: 'puback', messageId: ++i }, socket)
      if (i < count) process.nextTick(step)
      else process.nextTick(resolve)
    }
    step()
  })
}

/** Everything `socket` receives until `bytes` have come, or until it closes. */
function receive(socket: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let got = 0
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      got += chunk.length
      if (got >= bytes) resolve(Buffer.concat(chunks))
    })
    socket.on('close', () => resolve(Buffer.concat(chunks)))
  })
}

t.test('packets written from successive ticks of one turn leave in one send, in order', async (t) => {
  const plain = await socketPair(t)
  const plainSends = countSends(plain.server)
  await writeFromSuccessiveTicks(plain.server, 20)
  await receive(plain.client, 20 * 4)
  t.equal(plainSends.count, 20, 'without the coalescer: one send per packet (the control)')

  const coalesced = await socketPair(t)
  new WriteCoalescer().coalesce(coalesced.server)
  const sends = countSends(coalesced.server)
  const received = receive(coalesced.client, 20 * 4)
  await writeFromSuccessiveTicks(coalesced.server, 20)
  const bytes = await received
  t.equal(sends.count, 1, 'with it: one send for the turn')
  const ids: number[] = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (packet) => ids.push((packet as mqttPacket.IPubackPacket).messageId!))
  parser.parse(bytes)
  t.same(ids, Array.from({ length: 20 }, (_, i) => i + 1), 'every packet, whole and in order')
})

// Aedes closes a client with destroy(); what it wrote in the same turn (a PUBACK) must still go out.
t.test('destroy() in the turn of a write sends what was held, then closes', async (t) => {
  const { server, client } = await socketPair(t)
  new WriteCoalescer().coalesce(server)
  const received = receive(client, 4)
  const closed = new Promise<void>((resolve) => client.on('close', () => resolve()))
  mqttPacket.writeToStream({ cmd: 'puback', messageId: 7 }, server)
  await Promise.resolve().then(() => server.destroy())
  t.same([...(await received)], [0x40, 0x02, 0x00, 0x07], 'the PUBACK arrived')
  await closed
  t.ok(server.destroyed, 'and the connection closed')
})

// The flush runs from setImmediate, where a throw would be uncaught and end the process.
t.test('a connection whose send throws is closed with the error; the others still go out', async (t) => {
  const [failing, healthy] = [await socketPair(t), await socketPair(t)]
  const coalescer = new WriteCoalescer()
  coalescer.coalesce(failing.server)
  coalescer.coalesce(healthy.server)
  failing.server.uncork = () => { throw new Error('send failed') }
  const failed = new Promise<Error>((resolve) => failing.server.on('error', resolve))
  const received = receive(healthy.client, 3)
  failing.server.write(Buffer.from('abc'))
  healthy.server.write(Buffer.from('xyz'))
  t.equal(String(await received), 'xyz', 'the healthy connection got its bytes')
  t.equal((await failed).message, 'send failed', 'the failing one got the error')
  t.ok(failing.server.destroyed, 'and was closed')
})

// Through the listeners and a plain Aedes: a client's 50 QoS 1 publishes, read in one chunk, come back as
// 50 PUBACKs and 50 deliveries. Aedes writes each of them from a tick of its own.
t.test('the MQTT listener coalesces what Aedes writes', async (t) => {
  const aedes = await Aedes.createBroker()
  const listeners = await startMqttListeners(aedes, { host: '127.0.0.1', mqttPort: 0, wsPort: 0, wsPath: '/mqtt', maxPacketBytes: 65536, connectionsPerIpPerSecond: 100, connectTimeoutMs: 5000, tcpKeepAliveMs: 60000 }, createLogger('silent'))
  t.teardown(async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    await listeners.close()
  })
  const serverSide = new Promise<Socket>((resolve) => aedes.on('client', (client) => resolve((client as unknown as { conn: Socket }).conn)))
  const socket = connect(listeners.mqttPort, '127.0.0.1')
  t.teardown(() => socket.destroy())
  const packets: mqttPacket.Packet[] = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (packet) => packets.push(packet))
  socket.on('data', (chunk: Buffer) => parser.parse(chunk))
  const until = async (what: string, done: () => boolean) => {
    for (let waited = 0; !done(); waited += 10) {
      if (waited > 5000) throw new Error(`${what}: not within 5 s`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'burst', keepalive: 30 }))
  socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'burst/x', qos: 1 }] }))
  await until('CONNACK and SUBACK', () => packets.length === 2)
  const sends = countSends(await serverSide)
  const burst = Array.from({ length: 50 }, (_, i) => mqttPacket.generate({ cmd: 'publish', topic: 'burst/x', payload: Buffer.from(`m${i}`), qos: 1, messageId: 100 + i, retain: false, dup: false }))
  socket.write(Buffer.concat(burst))
  await until('50 PUBACKs and 50 deliveries', () => packets.length === 102)
  t.equal(packets.filter((p) => p.cmd === 'puback').length, 50, '50 PUBACKs')
  t.same(packets.filter((p) => p.cmd === 'publish').map((p) => String((p as mqttPacket.IPublishPacket).payload)), burst.map((_, i) => `m${i}`), '50 deliveries, in order')
  t.ok(sends.count <= 10, `100 packets in ${sends.count} sends (51 without the coalescer)`)
})
