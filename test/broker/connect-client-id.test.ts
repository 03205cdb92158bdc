import { connect, type Socket } from 'node:net'
import t from 'tap'
import mqttPacket from 'mqtt-packet'
import { eventually, sleep, startTestNode } from '../helpers/node.ts'

/**
 * Sends `connect` on a fresh socket and, once accepted, subscribes to `topic` (QoS 1, so that a persistent
 * session has something to keep); resolves with the CONNACK (if any) and whether the server closed the socket.
 */
async function rawConnect(port: number, connectPacket: Buffer, topic: string): Promise<{ connack: { returnCode: number; sessionPresent: boolean } | undefined; closedByServer: boolean }> {
  const socket: Socket = connect(port, '127.0.0.1')
  const parser = mqttPacket.parser()
  const state = { connack: undefined as { returnCode: number; sessionPresent: boolean } | undefined, subacked: false, closed: false }
  socket.on('data', (d) => parser.parse(d))
  socket.on('close', () => { state.closed = true })
  socket.on('error', () => {})
  parser.on('packet', (p: any) => {
    if (p.cmd === 'connack') state.connack = { returnCode: p.returnCode, sessionPresent: p.sessionPresent }
    if (p.cmd === 'suback') state.subacked = true
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(connectPacket)
  await eventually(() => state.closed || state.connack?.returnCode === 0, 5000)
  if (state.connack?.returnCode === 0) {
    socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as any))
    await eventually(() => state.closed || state.subacked, 5000)
  }
  const result = { connack: state.connack, closedByServer: state.closed }
  socket.destroy()
  return result
}

/** A CONNECT with a zero-byte client id and the given CleanSession flag. */
function emptyIdConnect(token: string, clean: boolean): Buffer {
  const packet = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: '', keepalive: 60, username: '', password: Buffer.from(token) } as any)
  // mqtt-packet refuses to write a zero-byte client id without CleanSession: clear the flag in the written packet.
  const flags = packet.indexOf('MQTT') + 5
  if (!clean) packet[flags] = packet[flags]! & ~0x02
  return packet
}

t.test('[MQTT-3.1.3-8] a zero-byte client id with CleanSession 0 gets CONNACK 0x02 and is closed', async (t) => {
  const app = await startTestNode(t)
  const alice = await app.user('alice')
  const persistence = (app.node.broker.aedes as unknown as { persistence: { countOffline(): Promise<{ clientsCount: number }> } }).persistence

  const topic = `user/${alice.id}/#`
  const refused = await rawConnect(app.node.ports.mqtt, emptyIdConnect(alice.token, false), topic)
  t.same(refused.connack, { returnCode: 2, sessionPresent: false }, 'CONNACK 0x02 (identifier rejected)')
  t.ok(refused.closedByServer, 'then the server closes the connection')
  await sleep(100) // for a session to be kept, were there one
  t.equal((await persistence.countOffline()).clientsCount, 0, 'no persistent session left behind')
  t.match(app.logLines.join('\n'), /mqtt connect refused.*"returnCode":2|"returnCode":2.*mqtt connect refused/, 'the refusal is logged')

  const accepted = await rawConnect(app.node.ports.mqtt, emptyIdConnect(alice.token, true), topic)
  t.same(accepted.connack, { returnCode: 0, sessionPresent: false }, 'a zero-byte client id with CleanSession 1 is accepted (MQTT-3.1.3-7)')
})
