const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * A fresh client message id: 22 random URL-safe characters (132 bits;
 * within the server's rule of 1-64 printable ASCII characters). Uses Web
 * Crypto, found both in browsers and in Node 20.
 */
export function newClientMsgId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(22))
  let id = ''
  for (const byte of bytes) id += ALPHABET[byte & 63]
  return id
}
