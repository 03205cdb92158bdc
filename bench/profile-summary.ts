/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the
 * most self time, and self time per package. Used by run.ts for
 * BENCH_CPU_PROF=1; also a CLI: node --import tsx bench/profile-summary.ts <file> [top]
 * (with `--import tsx` a process writes two profiles; the main thread's is the busy one)
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  file: string
  /** Sampled time that was not idle, ms. */
  busyMs: number
  idleMs: number
  top: Array<{ fn: string; where: string; selfMs: number; percent: number }>
  packages: Array<{ pkg: string; selfMs: number; percent: number }>
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url))

function place(url: string): { where: string; pkg: string } {
  if (!url) return { where: '', pkg: '(native/V8)' }
  let path = url.startsWith('file://') ? fileURLToPath(url) : url
  if (path.startsWith('node:')) return { where: path, pkg: 'node core' }
  const nm = path.lastIndexOf('node_modules/')
  if (nm >= 0) {
    path = path.slice(nm + 'node_modules/'.length)
    const parts = path.split('/')
    return { where: path, pkg: parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]! }
  }
  if (path.startsWith(repoRoot)) {
    const rel = path.slice(repoRoot.length)
    return { where: rel, pkg: `mqchat ${rel.split('/')[0]}` }
  }
  return { where: path, pkg: 'other' }
}

export function summarizeProfile(file: string, topN = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let k = 0; k < profile.samples.length; k++) {
    const id = profile.samples[k]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[k + 1] ?? profile.timeDeltas[k] ?? 0))
  }
  const fns = new Map<string, { fn: string; where: string; us: number }>()
  const pkgs = new Map<string, number>()
  let busy = 0
  let idle = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame
    const name = frame.functionName || '(anonymous)'
    if (name === '(idle)') {
      idle += us
      continue
    }
    busy += us
    const { where, pkg } = place(frame.url)
    const at = where ? `${where}:${frame.lineNumber + 1}` : ''
    const key = `${name}@${at}`
    const entry = fns.get(key) ?? { fn: name, where: at, us: 0 }
    entry.us += us
    fns.set(key, entry)
    const pkgKey = name.startsWith('(') && !frame.url ? name : pkg
    pkgs.set(pkgKey, (pkgs.get(pkgKey) ?? 0) + us)
  }
  const pct = (us: number) => Math.round((1000 * us) / busy) / 10
  return {
    file,
    busyMs: Math.round(busy / 1000),
    idleMs: Math.round(idle / 1000),
    top: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, topN).map((e) => ({ fn: e.fn, where: e.where, selfMs: Math.round(e.us / 1000), percent: pct(e.us) })),
    packages: [...pkgs.entries()].sort((a, b) => b[1] - a[1]).map(([pkg, us]) => ({ pkg, selfMs: Math.round(us / 1000), percent: pct(us) })),
  }
}

export function formatProfile(summary: ProfileSummary): string {
  const lines = [`CPU profile ${summary.file}: ${summary.busyMs} ms busy, ${summary.idleMs} ms idle (percentages of busy time)`, '  top self time:']
  for (const e of summary.top) lines.push(`    ${e.percent.toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(6)} ms  ${e.fn}  ${e.where}`)
  lines.push('  self time by package:')
  for (const p of summary.packages.slice(0, 15)) lines.push(`    ${p.percent.toFixed(1).padStart(5)}%  ${String(p.selfMs).padStart(6)} ms  ${p.pkg}`)
  return lines.join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2]
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  const top = Number(process.argv[3])
  process.stdout.write(formatProfile(summarizeProfile(file, Number.isInteger(top) && top > 0 ? top : 25)) + '\n')
}
