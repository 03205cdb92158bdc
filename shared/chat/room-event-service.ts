import type { ClientRoomEvent } from '../events.ts'
import type { MessageService } from './message-service.ts'
import type { ReadService } from './read-service.ts'
import type { TypingService } from './typing-service.ts'

/**
 * What a member publishes on `chat/<roomId>/events`, handed to the service
 * that owns it: the same services the REST routes call.
 */
export class RoomEventService {
  readonly #deps: { reads: ReadService; typing: TypingService; messages: MessageService }

  constructor(deps: { reads: ReadService; typing: TypingService; messages: MessageService }) {
    this.#deps = deps
  }

  /** Carries out one checked client event; rejects with a `ChatError` when it is refused. */
  async handle(userId: string, roomId: string, event: ClientRoomEvent): Promise<void> {
    switch (event.type) {
      case 'read':
        await this.#deps.reads.markRead(userId, roomId, event.lastReadId)
        return
      case 'typing':
        await this.#deps.typing.signal(userId, roomId)
        return
      case 'edit':
        await this.#deps.messages.edit(userId, roomId, event.id, event.body)
        return
      case 'delete':
        await this.#deps.messages.remove(userId, roomId, event.id)
    }
  }
}
