import { Aedes } from 'aedes'
import t from 'tap'
import { createBrokerState } from '../../broker/broker-state.ts'
import { createLogger } from '../../shared/logger.ts'
import { sleep } from '../helpers/node.ts'
import { onlyWithRedis, redisPrefix, redisUrl } from '../helpers/services.ts'

type Connection = { status: string; stream: { destroy(): void }; ping(): Promise<string>; quit(): Promise<string> }
type Routing = { pubConn: Connection; subConn: Connection }

t.test('closing the Redis routing while its connections drop leaves no unhandled rejection', onlyWithRedis(), async (t) => {
  const url = redisUrl(t)
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  const state = await createBrokerState({ url, keyPrefix: redisPrefix(t, url) }, createLogger('silent'), { max: 10, isConnected: async () => false })
  const routing = state.mq as unknown as Routing
  const aedes = await Aedes.createBroker({ mq: state.mq as never, persistence: state.persistence as never })
  await Promise.all([routing.pubConn.ping(), routing.subConn.ping()])
  t.equal(state.dropIfUnreachable(), false, 'with every connection up, nothing is dropped')

  // As when Redis goes away, or the node drops its connections, before QUIT is answered.
  for (const connection of [routing.pubConn, routing.subConn]) {
    const quit = connection.quit.bind(connection)
    connection.quit = () => {
      const answer = quit()
      connection.stream.destroy()
      return answer
    }
  }
  const closed = new Promise<void>((resolve) => aedes.close(() => resolve()))
  await sleep(300)
  t.same(unhandled.map((reason) => (reason as Error).message), [], 'the unanswered QUITs were not left unhandled')
  t.equal(state.dropIfUnreachable(), false, 'connections that closed are not taken for unreachable')
  await closed
  await state.close()
})
