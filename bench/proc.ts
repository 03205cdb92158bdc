/** CPU time of processes from /proc (Linux), and the Postgres backends serving a process. */
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import pg from 'pg'

let ticksPerSecond = 100
try {
  ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100
} catch {
  // keep 100
}

/** utime + stime of `pid` in milliseconds, or null when it cannot be read. */
export function cpuMsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond
  } catch {
    return null
  }
}

/** Resident set size of `pid` in bytes, or null. */
export function rssOf(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

/** The pid of the one process named `comm` (e.g. mosquitto), or null when none or several. */
export function findProcessByName(comm: string): number | null {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) found.push(Number(entry))
    } catch {
      // gone
    }
  }
  return found.length === 1 ? found[0]! : null
}

/** Local ports of `pid`'s IPv4 TCP connections to remote port `remotePort`. */
function localPortsTo(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) inodes.add(m[1]!)
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = []
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/)
    if (cols.length < 10 || !inodes.has(cols[9]!)) continue
    const local = parseInt(cols[1]!.split(':')[1]!, 16)
    const remote = parseInt(cols[2]!.split(':')[1]!, 16)
    if (remote === remotePort) ports.push(local)
  }
  return ports
}

/**
 * Tracks the CPU of the Postgres backends that serve one client process
 * (matched by the client's local ports in pg_stat_activity), so mqchat's
 * database work shows next to its own CPU. Backends opened during a run count
 * in full.
 */
export class PostgresBackendCpu {
  readonly #url: string
  readonly #clientPid: number
  readonly #pgPort: number

  constructor(url: string, clientPid: number) {
    this.#url = url
    this.#clientPid = clientPid
    this.#pgPort = Number(new URL(url).port || 5432)
  }

  async #backends(): Promise<number[]> {
    const ports = localPortsTo(this.#clientPid, this.#pgPort)
    if (ports.length === 0) return []
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000 })
    await client.connect()
    try {
      const res = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports])
      return res.rows.map((r) => r.pid)
    } finally {
      await client.end()
    }
  }

  /** CPU ms of each current backend. */
  async sample(): Promise<Map<number, number>> {
    const out = new Map<number, number>()
    try {
      for (const pid of await this.#backends()) {
        const ms = cpuMsOf(pid)
        if (ms !== null) out.set(pid, ms)
      }
    } catch {
      // leave it empty: reported as unknown
    }
    return out
  }

  /** CPU ms the backends used between two samples (new backends count in full). */
  static delta(before: Map<number, number>, after: Map<number, number>): number | null {
    if (after.size === 0) return null
    let total = 0
    for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0)
    return total
  }
}
