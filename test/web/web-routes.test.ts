import { request } from 'node:http'
import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

/** A raw GET (no URL normalisation, unlike fetch), so `..` reaches the server as written. */
function rawGet(port: number, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = ''
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }))
    }).on('error', reject).end()
  })
}

t.test('the API serves the chat page and its config, and nothing outside web/', async (t) => {
  const node = await startTestNode(t)
  const port = node.node.ports.http
  const index = await rawGet(port, '/')
  t.equal(index.status, 200)
  t.match(index.type, /^text\/html; charset=utf-8/, 'the page is HTML')
  t.match(index.body, /<script type="module" src="dist\/app.js">/, 'and loads the bundle')
  const css = await rawGet(port, '/style.css')
  t.match(css.type, /^text\/css/, 'CSS has its type')
  const config = await rawGet(port, '/config.json')
  t.same(JSON.parse(config.body), { wsPort: node.node.ports.ws, wsPath: node.config.WS_PATH, wssPort: null }, 'the page learns the WebSocket port')

  for (const path of ['/../package.json', '/%2e%2e/package.json', '/dist/../../package.json', '/..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fetc/passwd', '/build.mjs', '/app.ts', '/%00.html', '/nope.html']) {
    const res = await rawGet(port, path)
    t.equal(res.status, 404, `${path} is not served`)
    t.match(JSON.parse(res.body), { error: { code: 'not_found' } }, `${path}: the API's 404`)
  }
  const api = await rawGet(port, '/v1/users/me')
  t.equal(api.status, 401, '/v1 stays the API')
  t.equal((await rawGet(port, '/v1/')).status, 404, 'a /v1 path never falls back to a file')
  const post = await node.http('POST', '/index.html', { body: {} })
  t.equal(post.status, 404, 'only GET and HEAD are served')
})
