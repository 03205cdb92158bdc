import { ChatApiError } from './chat-api-error.ts'
import type { ChatMessage, ChatRoom, ChatUser, PresenceChange } from './chat-types.ts'

/** What `POST /v1/sync` answers. */
export interface SyncResult {
  rooms: Record<string, { messages: ChatMessage[]; hasMore: boolean }>
  removedRoomIds: string[]
}

/** What `POST /v1/auth/login` answers. */
export interface LoginResult {
  accessToken: string
  expiresIn: number
  user: ChatUser
}

/**
 * The mqchat REST API over `fetch` (browsers and Node 20). Errors become
 * `ChatApiError`s with the server's code; no answer at all is `network`.
 */
export class RestClient {
  readonly baseUrl: string
  readonly #token: (() => Promise<string>) | undefined

  /** `baseUrl`: the API's origin, e.g. `http://127.0.0.1:3000` ('' in a page served by the API). */
  constructor(baseUrl: string, token?: () => Promise<string>) {
    this.baseUrl = baseUrl.replace(/\/$/, '')
    this.#token = token
  }

  /** One request; resolves with the parsed JSON answer (undefined for 204). */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {}
    if (this.#token) headers['authorization'] = `Bearer ${await this.#token()}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(this.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    } catch (err) {
      throw new ChatApiError('network', `${method} ${path}: ${(err as Error).message}`)
    }
    const text = await res.text()
    const json = text ? JSON.parse(text) : undefined
    if (!res.ok) {
      const error = json?.error ?? {}
      throw new ChatApiError(error.code ?? 'internal', error.message ?? `HTTP ${res.status}`, res.status, error.details)
    }
    return json as T
  }

  /** Creates an account. */
  async register(username: string, password: string, displayName?: string): Promise<ChatUser> {
    return (await this.request<{ user: ChatUser }>('POST', '/v1/auth/register', { username, password, displayName })).user
  }

  /** Logs in; the answer holds the access token. */
  login(username: string, password: string): Promise<LoginResult> {
    return this.request('POST', '/v1/auth/login', { username, password })
  }

  /** Users whose username or display name contains `q`. */
  async findUsers(q: string, limit = 20): Promise<ChatUser[]> {
    return (await this.request<{ users: ChatUser[] }>('GET', `/v1/users?q=${encodeURIComponent(q)}&limit=${limit}`)).users
  }

  /** The caller's rooms, most recently active first. */
  async rooms(): Promise<ChatRoom[]> {
    return (await this.request<{ rooms: ChatRoom[] }>('GET', '/v1/rooms')).rooms
  }

  /** The direct room of the caller and `userId`, created on first use. */
  async openDirectRoom(userId: string): Promise<ChatRoom> {
    return (await this.request<{ room: ChatRoom }>('POST', '/v1/rooms', { type: 'direct', userId })).room
  }

  /** A page of history, oldest first: the newest `limit` (below `before`), or the oldest above `after`. */
  history(roomId: string, page: { before?: number; after?: number; limit?: number } = {}): Promise<{ messages: ChatMessage[]; hasMore: boolean }> {
    const query = Object.entries(page).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join('&')
    return this.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}/messages${query ? `?${query}` : ''}`)
  }

  /** Messages after the given numbers, per room (catch-up). */
  sync(lastSeen: Record<string, number>): Promise<SyncResult> {
    return this.request('POST', '/v1/sync', { rooms: lastSeen })
  }

  /** Sends (or resends: same `clientMsgId`, stored once) a message over REST. */
  async postMessage(roomId: string, clientMsgId: string, body: string): Promise<ChatMessage> {
    return (await this.request<{ message: ChatMessage }>('POST', `/v1/rooms/${encodeURIComponent(roomId)}/messages`, { id: clientMsgId, body })).message
  }

  /** Moves the caller's read position in a room forward. */
  async markRead(roomId: string, lastReadId: number): Promise<void> {
    await this.request('PUT', `/v1/rooms/${encodeURIComponent(roomId)}/read`, { lastReadId })
  }

  /** Whether `userId` is online (someone who shares a room with the caller, or the caller). */
  async presence(userId: string): Promise<PresenceChange> {
    return (await this.request<{ presence: PresenceChange }>('GET', `/v1/users/${encodeURIComponent(userId)}/presence`)).presence
  }

  /**
   * {@link presence} of many users, 100 to a request (the server's most);
   * users the caller shares no room with are left out.
   */
  async presenceOf(userIds: readonly string[]): Promise<PresenceChange[]> {
    const answers = []
    for (let i = 0; i < userIds.length; i += 100) {
      const ids = userIds.slice(i, i + 100).map(encodeURIComponent).join(',')
      answers.push(...(await this.request<{ presences: PresenceChange[] }>('GET', `/v1/presence?userIds=${ids}`)).presences)
    }
    return answers
  }
}
