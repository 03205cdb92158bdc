// Minimal typings for the packages that ship none; only what broker/ uses.

declare module 'mqemitter-redis' {
  import type { Redis } from 'ioredis'
  interface MQEmitterRedis {
    emit(packet: { topic: string }, cb?: (err?: Error) => void): void
    close(cb: () => void): void
    state: import('node:events').EventEmitter
  }
  export default function mqemitterRedis(opts: { subConn: Redis; pubConn: Redis }): MQEmitterRedis
}

declare module 'aedes-persistence-redis/asyncPersistence.js' {
  import type { Redis } from 'ioredis'
  export default class AsyncRedisPersistence {
    constructor(opts: { conn: Redis; maxSessionDelivery?: number })
    setup(broker: unknown): Promise<void>
    addSubscriptions(client: import('aedes').Client, subs: Array<{ topic: string }>): Promise<unknown>
    outgoingEnqueue(sub: { clientId: string }, packet: { topic: string }): Promise<unknown>
    outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: { topic: string }): Promise<unknown>
    outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>
    destroy(): Promise<void>
  }
}
