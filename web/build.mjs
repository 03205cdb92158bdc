// Bundles the chat page (web/app.ts with the SDK and MQTT.js) into web/dist/ for browsers.
// Run by `npm run build`; the page test calls buildWeb() itself.
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

/** Builds web/dist/app.js (and its source map). */
export async function buildWeb() {
  await build({
    entryPoints: [fileURLToPath(new URL('./app.ts', import.meta.url))],
    outdir: fileURLToPath(new URL('./dist/', import.meta.url)),
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: true, logLevel: 'warning',
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildWeb()
