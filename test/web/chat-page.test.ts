import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import t from 'tap'
import { startTestNode } from '../helpers/node.ts'

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = new URL('../../.tap/screenshots/', import.meta.url).pathname
// A fresh profile comes with launch() (Playwright makes a temporary user-data-dir); the rest keeps Chromium off the network.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

t.test('two people chat in the browser page', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium): browser test skipped` }, async (t) => {
  execFileSync(process.execPath, [new URL('../../web/build.mjs', import.meta.url).pathname])
  const { chromium } = await import('playwright-core')
  const node = await startTestNode(t)
  const base = `http://127.0.0.1:${node.node.ports.http}/`
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
  t.teardown(() => browser.close())
  const page = async (username: string) => {
    const p = await (await browser.newContext({ viewport: { width: 900, height: 600 } })).newPage()
    p.setDefaultTimeout(15_000)
    p.on('pageerror', (err) => t.fail(`${username}'s page threw: ${err.message}`))
    await p.goto(base)
    await p.fill('input[name=username]', username)
    await p.fill('input[name=password]', `password-${username}`)
    await p.click('button[value=register]')
    await p.waitForSelector('#conn-state.online')
    return p
  }
  const alice = await page('alice')
  const bob = await page('bob')
  t.equal(await alice.textContent('#me-name'), 'alice', 'alice registered and is connected')

  // Alice finds Bob and opens the direct room; history is long enough to scroll back through.
  await alice.fill('#user-search', 'bo')
  await alice.click('#search-results li >> text=bob')
  await alice.waitForSelector('#composer:not([hidden])')
  const login = await node.http('POST', '/v1/auth/login', { body: { username: 'alice', password: 'password-alice' } })
  const roomId = await alice.getAttribute('#room-list li.active', 'data-room-id')
  for (let i = 1; i <= 35; i++) await node.http('POST', `/v1/rooms/${roomId}/messages`, { token: login.body.accessToken, body: { id: `old-${i}`, body: `old ${i}` } })
  await alice.fill('#composer-input', 'hello bob')
  await alice.press('#composer-input', 'Enter')
  await alice.waitForSelector('#messages li.mine:not(.pending) >> text=hello bob')

  // Bob's list shows the room with Alice online, 36 unread and the last message.
  const bobsRoom = bob.locator(`#room-list li[data-room-id="${roomId}"]`)
  await bobsRoom.locator('.badge', { hasText: '36' }).waitFor()
  t.equal(await bobsRoom.locator('.last').textContent(), 'hello bob', 'the last message is shown')
  t.ok(await bobsRoom.locator('.dot.online').count(), 'alice shows as online')
  await bobsRoom.click()
  await bob.waitForSelector('#messages li >> text=hello bob')
  t.equal(await bobsRoom.locator('.badge').count(), 0, 'opening the room clears its unread count')
  await alice.waitForSelector('#messages li.mine .receipt >> text=Read')
  t.pass('alice sees that bob read her message')

  // Scroll-back: the first page holds 30; scrolling up loads the rest.
  t.equal(await bob.locator('#messages li').count(), 30, 'the newest page of history')
  await bob.locator('#messages').evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')) })
  await bob.waitForSelector('#messages li >> text=/^old 1$/')
  t.equal(await bob.locator('#messages li').count(), 36, 'older messages loaded on scroll-back')

  // Typing, then Bob's answer.
  await bob.type('#composer-input', 'hi al')
  await alice.waitForSelector('#typing >> text=bob is typing')
  t.pass('alice sees bob typing')
  await bob.fill('#composer-input', 'hi alice')
  await bob.press('#composer-input', 'Enter')
  await alice.waitForSelector('#messages li:not(.mine) >> text=hi alice')
  t.equal(await alice.textContent('#typing'), '', 'the typing line clears when the message arrives')
  t.equal(await alice.locator('#messages li >> text=hello bob').count(), 1, 'no message is shown twice')

  mkdirSync(SHOTS, { recursive: true })
  await alice.screenshot({ path: `${SHOTS}chat-page-alice.png` })
  await bob.screenshot({ path: `${SHOTS}chat-page-bob.png` })
  t.ok(existsSync(`${SHOTS}chat-page-alice.png`), `screenshots saved in ${SHOTS}`)

  // Alice adds Bob to six new rooms and writes in each, all at once: his page reloads its room list one load at a time.
  let inFlight = 0
  let mostAtOnce = 0
  let reloads = 0
  const isRoomList = (r: { method(): string; url(): string }) => r.method() === 'GET' && new URL(r.url()).pathname === '/v1/rooms'
  bob.on('request', (r) => { if (isRoomList(r)) { reloads++; mostAtOnce = Math.max(mostAtOnce, ++inFlight) } })
  const settled = (r: { method(): string; url(): string }) => { if (isRoomList(r)) inFlight-- }
  bob.on('requestfinished', settled)
  bob.on('requestfailed', settled)
  const bobId = (await node.http('POST', '/v1/auth/login', { body: { username: 'bob', password: 'password-bob' } })).body.user.id
  const teams = await Promise.all([1, 2, 3, 4, 5, 6].map(async (i) => {
    const room = (await node.http('POST', '/v1/rooms', { token: login.body.accessToken, body: { type: 'group', name: `team ${i}`, memberIds: [bobId] } })).body.room.id
    await node.http('POST', `/v1/rooms/${room}/messages`, { token: login.body.accessToken, body: { id: `team-${i}`, body: `team ${i}` } })
    return room
  }))
  for (const room of teams) await bob.locator(`#room-list li[data-room-id="${room}"] .last`, { hasText: /^team \d$/ }).waitFor()
  t.equal(mostAtOnce, 1, `bob's page listed all six with ${reloads} loads of the room list, never two at once`)

  // Presence: Alice closes her page; Bob's dot goes grey.
  await alice.context().close()
  await bob.waitForSelector('.conv-header .dot:not(.online)')
  t.pass('bob sees alice go offline')
})
