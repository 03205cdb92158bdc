import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/** A self-signed certificate for 127.0.0.1 and localhost (made by `openssl`), removed when `t` ends. */
export function selfSignedCertificate(t: Test): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mqchat-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  return { certFile, keyFile }
}
