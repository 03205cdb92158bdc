/**
 * A generator child process that talks in JSON lines: its config goes in an
 * environment variable, its messages come back one JSON object a line on
 * stdout, commands go to its stdin. Used by scenarios 2 and 4 (run.ts keeps
 * its own copy for scenarios 1, 3 and 6).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { repoRoot, stopChild } from './targets.ts'

/** A running generator. */
export interface JsonChild {
  child: ChildProcess
  /** The next message, or {type:'fatal'} after `ms` of silence or when the process exits. */
  next(ms: number): Promise<{ type: string; [key: string]: unknown }>
  /** Writes one line to its stdin. */
  send(line: string): void
  /** Ends its stdin, waits for it to exit (SIGKILL after `ms`). */
  stop(ms?: number): Promise<void>
}

const live = new Set<ChildProcess>()

/** Kills every generator still running (the bench is stopping). */
export function killChildren(): void {
  for (const child of live) child.kill('SIGKILL')
}

/**
 * Starts `node --import tsx <script>` with `config` as JSON in a file named by BENCH_LOAD_CONFIG (`@<file>`),
 * its open-files limit raised to the hard limit first (scenario 4 holds thousands of sockets per process).
 */
export function startJsonChild(script: string, config: unknown, tag: string): JsonChild {
  const raise = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"'
  // In a file: 1,000 clients' tokens are more than one environment variable may hold.
  const configFile = join(mkdtempSync(join(tmpdir(), 'mqchat-bench-')), 'config.json')
  writeFileSync(configFile, JSON.stringify(config))
  const child = spawn('/bin/sh', ['-c', raise, process.execPath, '--import', 'tsx', script], {
    cwd: repoRoot,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', BENCH_LOAD_CONFIG: `@${configFile}` },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  live.add(child)
  child.once('exit', () => {
    live.delete(child)
    rmSync(dirname(configFile), { recursive: true, force: true })
  })
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`  ${tag}: ${chunk}`))
  const queue: Array<{ type: string; [key: string]: unknown }> = []
  const waiters: Array<(m: { type: string; [key: string]: unknown }) => void> = []
  const deliver = (m: { type: string; [key: string]: unknown }) => {
    const w = waiters.shift()
    if (w) w(m)
    else queue.push(m)
  }
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      deliver(JSON.parse(line) as { type: string })
    } catch {
      process.stderr.write(`  ${tag}: ${line}\n`)
    }
  })
  child.once('exit', (code, signal) => deliver({ type: 'fatal', error: `${tag} exited (${code ?? signal})` }))
  child.stdin!.on('error', () => {}) // it may exit before reading everything
  return {
    child,
    next(ms) {
      const queued = queue.shift()
      if (queued) return Promise.resolve(queued)
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ type: 'fatal', error: `${tag} silent for ${ms} ms` }), ms)
        waiters.push((m) => {
          clearTimeout(timer)
          resolve(m)
        })
      })
    },
    send(line) {
      if (child.exitCode === null && child.signalCode === null) child.stdin!.write(line + '\n')
    },
    // Closing its stdin is how a generator is told to finish.
    stop: (ms = 10_000) => stopChild(child, ms, () => child.stdin!.end()),
  }
}

/** Waits for every child's next message and checks its type (throws with the first fatal error). */
export async function allNext<T>(children: JsonChild[], type: string, ms: number): Promise<T[]> {
  const messages = await Promise.all(children.map((c) => c.next(ms)))
  for (const m of messages) {
    if (m.type !== type) throw new Error(m.type === 'fatal' ? String(m['error']) : `expected ${type}, got ${m.type}`)
  }
  return messages as unknown as T[]
}
