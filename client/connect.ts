import { ChatClient, type ConnectOptions } from './chat-client.ts'
import { TokenSource } from './token-source.ts'

/**
 * Connects to mqchat: fetches the first token (with `getToken`), then
 * returns a `ChatClient` that connects in the background and keeps
 * reconnecting until `close()`. Listen for `status` to see it come online;
 * `send` works at once (messages wait in the outbox until then).
 */
export async function connect(options: ConnectOptions): Promise<ChatClient> {
  const tokens = new TokenSource(options)
  await tokens.current()
  return new ChatClient(options, tokens)
}
