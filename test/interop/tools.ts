import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'
import { SERVICES_REQUIRED } from '../helpers/services.ts'
import type { TestNode } from '../helpers/node.ts'

/** Why the Mosquitto command-line clients cannot be used here, or undefined when they can. */
export function mosquittoMissing(): string | undefined {
  const missing = ['/usr/bin/mosquitto_pub', '/usr/bin/mosquitto_sub'].filter((path) => !existsSync(path))
  return missing.length ? `${missing.join(' and ')} not installed (Debian package mosquitto-clients)` : undefined
}

/** The system Python, where Debian's python3-paho-mqtt installs (not a pyenv or venv one on PATH). */
export const PYTHON = '/usr/bin/python3'

/** Why paho-mqtt cannot be used here, or undefined when it can. */
export function pahoMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not installed`
  const probe = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client'], { encoding: 'utf8' })
  return probe.status === 0 ? undefined : `paho-mqtt not importable by ${PYTHON} (Debian package python3-paho-mqtt)`
}

/**
 * Test options for a test that needs a third-party client: skipped with the
 * reason when it is missing, run (and failed by {@link toolPresent}) when CI
 * requires it (`MQCHAT_REQUIRE_SERVICES=1`; `.ci/run` installs the tools).
 */
export function needsTool(missing: string | undefined): { skip: string | false } {
  return { skip: missing && !SERVICES_REQUIRED ? `${missing}: interoperability test skipped` : false }
}

/** Fails `t` when the tool is missing (only reached when CI requires it); true when it may run. */
export function toolPresent(t: Test, missing: string | undefined): boolean {
  if (missing) t.fail(`MQCHAT_REQUIRE_SERVICES=1 but ${missing}`)
  return !missing
}

/** A running third-party client: its output lines so far, a wait for a line, and its exit. */
export interface ToolProcess {
  child: ChildProcess
  lines: string[]
  /** Resolves with the first line (past or future) matching `pattern`; rejects if the process exits first. */
  line(pattern: RegExp): Promise<string>
  exited: Promise<{ code: number | null; stdout: string[]; stderr: string }>
}

/** Runs `command` (killed after `timeoutMs`, so a hung client fails its test instead of stalling it). */
export function runTool(t: Test, command: string, args: string[], timeoutMs = 20_000): ToolProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: string[] = []
  const waiters: Array<{ pattern: RegExp; resolve(line: string): void }> = []
  let stderr = ''
  child.stderr!.on('data', (chunk) => { stderr += chunk })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(line)
    }
  })
  const exited = new Promise<{ code: number | null; stdout: string[]; stderr: string }>((resolve) => {
    child.once('close', (code) => resolve({ code, stdout: lines, stderr }))
  })
  return {
    child, lines, exited,
    line: (pattern) => new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => pattern.test(l))
      if (seen !== undefined) return resolve(seen)
      waiters.push({ pattern, resolve })
      void exited.then(({ code }) => reject(new Error(`${command} exited (${code}) before printing ${pattern}: ${stderr}${lines.join('\n')}`)))
    }),
  }
}

/** Two users of `app` and the direct room between them. */
export async function directRoom(app: TestNode): Promise<{ alice: { id: string; token: string }; bob: { id: string; token: string }; roomId: string }> {
  const alice = await app.user('alice')
  const bob = await app.user('bob')
  const room = await app.http('POST', '/v1/rooms', { token: alice.token, body: { type: 'direct', userId: bob.id } })
  if (room.status !== 201 && room.status !== 200) throw new Error(`create room: ${room.status} ${JSON.stringify(room.body)}`)
  return { alice, bob, roomId: room.body.room.id }
}

/** The room's stored messages, oldest first, as REST history returns them. */
export async function history(app: TestNode, roomId: string, token: string): Promise<Array<{ id: number; senderId: string; clientMsgId: string; body: string }>> {
  const res = await app.http('GET', `/v1/rooms/${roomId}/messages?limit=100`, { token })
  if (res.status !== 200) throw new Error(`history: ${res.status}`)
  return [...res.body.messages].sort((a, b) => a.id - b.id)
}
