// The chat page's entry point: log in (or register), then hand over to ChatView.
import { connect, RestClient, type ChatUser } from '../client/index.ts'
import { ChatView } from './chat-view.ts'
import { byId } from './dom.ts'

interface Session { token: string; user: ChatUser }
const SESSION_KEY = 'mqchat.session'
const rest = new RestClient('')

/** Where MQTT over WebSocket listens: the server tells its port, the host is the page's. */
async function mqttUrl(): Promise<string> {
  const config = await rest.request<{ wsPort: number; wsPath: string; wssPort: number | null }>('GET', '/config.json')
  const secure = location.protocol === 'https:' && config.wssPort !== null
  return `${secure ? 'wss' : 'ws'}://${location.hostname}:${secure ? config.wssPort : config.wsPort}${config.wsPath}`
}

async function start(session: Session): Promise<void> {
  byId('login').hidden = true
  byId('chat').hidden = false
  const client = await connect({ url: await mqttUrl(), apiUrl: '', token: session.token })
  client.on('error', (e) => { if (e.code === 'unauthenticated') logout() })
  new ChatView(client, session.user).start()
}

function logout(): void {
  sessionStorage.removeItem(SESSION_KEY)
  location.reload()
}

function showLogin(): void {
  byId('login').hidden = false
  const form = byId<HTMLFormElement>('login-form')
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const action = (event.submitter as HTMLButtonElement | null)?.value ?? 'login'
    const data = new FormData(form)
    const username = String(data.get('username')).trim()
    const password = String(data.get('password'))
    try {
      if (action === 'register') await rest.register(username, password)
      const login = await rest.login(username, password)
      const session = { token: login.accessToken, user: login.user }
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(session))
      await start(session)
    } catch (err) {
      byId('login-error').textContent = (err as Error).message
    }
  })
}

byId('logout').addEventListener('click', logout)
const saved = sessionStorage.getItem(SESSION_KEY)
if (saved) void start(JSON.parse(saved) as Session)
else showLogin()
