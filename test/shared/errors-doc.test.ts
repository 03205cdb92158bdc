import { readFileSync } from 'node:fs'
import t from 'tap'
import { ERROR_CATALOGUE } from '../../shared/errors.ts'

const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8')

/** The rows of the "## Codes" table: code, HTTP status and the MQTT column. */
function documentedCodes(): Array<{ code: string; status: number; mqtt: string }> {
  const section = doc.split(/^## /m).find((s) => s.startsWith('Codes\n')) ?? ''
  return [...section.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \| ([^|]*) \|/gm)].map((m) => ({ code: m[1]!, status: Number(m[2]), mqtt: m[3]!.trim() }))
}

t.test('docs/ERRORS.md lists every catalogue code once, with its HTTP status and how it appears over MQTT', async (t) => {
  const rows = documentedCodes()
  t.ok(rows.length > 0, 'the Codes table is found')
  const documented = rows.map((r) => r.code)
  t.same(documented.filter((code, i) => documented.indexOf(code) !== i), [], 'no code is listed twice')
  const catalogue = Object.keys(ERROR_CATALOGUE)
  t.same(catalogue.filter((code) => !documented.includes(code)), [], 'every code in shared/errors.ts is documented')
  t.same(documented.filter((code) => !catalogue.includes(code)), [], 'the doc lists no code that does not exist')
  for (const row of rows) {
    const entry = (ERROR_CATALOGUE as Record<string, { status: number }>)[row.code]
    if (!entry) continue
    t.equal(row.status, entry.status, `${row.code}: HTTP ${entry.status}`)
    t.ok(row.mqtt.length > 0, `${row.code}: says how it appears over MQTT`)
  }
})
