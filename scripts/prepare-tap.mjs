/**
 * Run before `npm test`: rebuilds tap's plugin set when it still holds
 * @tapjs/typescript, as it does after every fresh install.
 *
 * package.json turns that plugin off (tests load through tsx), but tap
 * notices only at its first run, and that run still starts every test
 * process with the plugin's loader, ts-node, as well as tsx
 * (tapjs/tapjs#974). ts-node compiles each TypeScript module again: on this
 * code base a test that starts a node took 27-30 s instead of 16, a small
 * one 3.3-3.6 s instead of 0.9. `tap build` takes about 7 s, so it runs
 * only when needed.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
/** The built plugin set's source; `tap build` cannot make it anew when it is missing, only a reinstall can. */
function builtPlugins() {
  try {
    return readFileSync(require.resolve('@tapjs/test/test-built'), 'utf8')
  } catch {
    process.stderr.write('tap\'s plugin set (@tapjs/test/test-built) is missing: run `npm ci` again\n')
    process.exit(1)
  }
}
if (builtPlugins().includes('@tapjs/typescript')) {
  process.stderr.write('tap: rebuilding its plugin set without @tapjs/typescript (first run after an install)\n')
  const tap = join(dirname(require.resolve('tap/package.json')), 'dist/esm/run.mjs')
  execFileSync(process.execPath, [tap, 'build'], { stdio: 'inherit' })
}
