/**
 * The mqchat client SDK: `connect` to a server over MQTT (TCP in Node,
 * WebSocket anywhere) and its REST API. See README.md ("Client SDK").
 */
export { connect } from './connect.ts'
export { ChatClient, type ConnectOptions } from './chat-client.ts'
export { ChatApiError } from './chat-api-error.ts'
export { RestClient, type LoginResult, type SyncResult } from './rest-client.ts'
export { backoffDelay, type BackoffOptions } from './backoff-delay.ts'
export { decodeTokenClaims, type TokenOptions } from './token-source.ts'
export type { ChatEvents, ChatMessage, ChatRoom, ChatMember, ChatUser, ConnectionState, MembershipChange, PresenceChange } from './chat-types.ts'
