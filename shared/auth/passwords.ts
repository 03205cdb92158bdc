import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const KEY_LENGTH = 32
const BLOCK_SIZE = 8
const PARALLELISM = 1

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; allow twice that so large N is not refused.
  const maxmem = 256 * (options.N ?? 16384) * (options.r ?? BLOCK_SIZE)
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, KEY_LENGTH, { ...options, maxmem }, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

/**
 * Hashes a password with scrypt (memory-hard) at cost `N`, as
 * `scrypt$N$r$p$salt$hash` (base64url), so the cost can rise later without
 * invalidating older hashes.
 */
export async function hashPassword(password: string, N: number): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, { N, r: BLOCK_SIZE, p: PARALLELISM })
  return ['scrypt', N, BLOCK_SIZE, PARALLELISM, salt.toString('base64url'), key.toString('base64url')].join('$')
}

const isCost = (n: number) => Number.isSafeInteger(n) && n >= 2 && (n & (n - 1)) === 0
const isPositive = (n: number) => Number.isSafeInteger(n) && n > 0 && n <= 64

/**
 * Whether `password` matches `stored` (made by {@link hashPassword});
 * constant-time compare. A malformed stored hash gives false, never a throw.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$')
  const [N, blockSize, parallelism] = [Number(n), Number(r), Number(p)]
  if (scheme !== 'scrypt' || !salt || !hash || !isCost(N) || !isPositive(blockSize) || !isPositive(parallelism)) return false
  const expected = Buffer.from(hash, 'base64url')
  try {
    const actual = await derive(password, Buffer.from(salt, 'base64url'), { N, r: blockSize, p: parallelism })
    return actual.length === expected.length && timingSafeEqual(actual, expected)
  } catch {
    return false
  }
}

/**
 * A hash of a random password, compared against when the username is unknown
 * so that a login takes as long whether or not the account exists.
 */
export async function decoyHash(N: number): Promise<string> {
  return hashPassword(randomBytes(16).toString('hex'), N)
}
