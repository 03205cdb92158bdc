import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

const MAIN = new URL('../../main.ts', import.meta.url).pathname

/** A node running as its own process, as `npm start` runs it. */
export interface MainProcess {
  child: ChildProcess
  /** Every stdout line (JSON log lines) so far. */
  lines: string[]
  /** Resolves with the bound ports once the node logs them; rejects if it exits first. */
  started: Promise<{ ports: { mqtt: number; ws: number; http: number }; line: any }>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>
}

/**
 * Login, registration, room-change and request throttles high enough for
 * tests that register many users from one address (127.0.0.1), make many
 * rooms and read much history.
 */
export const RELAXED_THROTTLES = {
  ROOM_CHANGES_PER_MINUTE: '600000', ROOM_CHANGES_BURST: '100000',
  HTTP_REQUESTS_PER_MINUTE: '6000000', HTTP_REQUESTS_BURST: '1000000',
  LOGIN_FAILURES_PER_USERNAME_PER_MINUTE: '600000', LOGIN_FAILURES_PER_USERNAME_BURST: '100000',
  LOGIN_FAILURES_PER_IP_PER_MINUTE: '600000', LOGIN_FAILURES_PER_IP_BURST: '100000',
  REGISTRATIONS_PER_IP_PER_MINUTE: '600000', REGISTRATIONS_PER_IP_BURST: '100000',
}

/** Runs `main.ts` (via tsx instead of the build step) with `env` on top of a test base: local host, free ports, cheap hashing, relaxed login, registration, room-change and request throttles. */
export function runMain(env: Record<string, string | undefined>): MainProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { PATH: process.env['PATH'], HOST: '127.0.0.1', MQTT_PORT: '0', WS_PORT: '0', HTTP_PORT: '0', PASSWORD_SCRYPT_COST: '1024', ...RELAXED_THROTTLES, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  let stderr = ''
  child.stderr!.on('data', (chunk) => { stderr += chunk })
  const started = new Promise<{ ports: { mqtt: number; ws: number; http: number }; line: any }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line)
      const entry = JSON.parse(line)
      if (entry.ports) resolve({ ports: entry.ports, line: entry })
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)))
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr })))
  return { child, lines, started, exited }
}
