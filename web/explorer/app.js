// app.js: the explorer's wiring. It reads config.json (which mqttrpc ui
// serves), connects to the broker over MQTT over WebSocket, keeps a Fleet of
// the services that answer discovery, and shows the view the location's
// hash names: #/NAME for a service, #/NAME/ENDPOINT for one of its
// endpoints.
import mqtt from 'mqtt'
import { Client } from './lib/mqttrpc.js'
import { h, fill } from './dom.js'
import { Fleet } from './fleet.js'
import { renderServices } from './sidebar.js'
import { serviceView } from './service.js'
import { endpointView } from './endpoint.js'

const $ = id => document.getElementById(id)
const MAX_MESSAGES = 8

/** What the views share: the client, the fleet, the settings, and message(). */
const app = {
  config: {},
  client: null,
  fleet: null,
  message,
  view: null, // { key, element, dispose }
  connected: false
}

/** Shows text in the message list: kind is 'error', 'warning' or 'info'. */
function message (kind, text) {
  const list = $('messages')
  for (const li of list.children) {
    if (li.dataset.text === text) return // said already
  }
  const li = h('li', { class: `message ${kind}`, 'data-kind': kind, 'data-text': text },
    h('span', {}, text),
    h('button', { type: 'button', class: 'dismiss', title: 'Dismiss', onclick: () => li.remove() }, '×'))
  list.prepend(li)
  while (list.children.length > MAX_MESSAGES) list.lastChild.remove()
}

/** Shows the connection's state; the broker's URL is in the field beside it. */
function status (state, text) {
  const el = $('status')
  el.dataset.state = state
  el.textContent = text
  el.title = app.brokerHref ? `${text}: ${app.brokerHref}` : text
  app.connected = state === 'connected'
  document.body.dataset.connection = state
}

/**
 * The broker's WebSocket URL from what the user typed: a whole URL, as a
 * path alone names nothing an operator meant. config.json's may be
 * relative to the page (the relay's "mqtt"): main resolves it first.
 */
function brokerURL (s) {
  let u
  try {
    u = new URL(s)
  } catch {
    throw new Error(`"${s}" is not a URL: give the broker's WebSocket address, ws://HOST:PORT/PATH or wss://…`)
  }
  if (u.protocol === 'http:') u.protocol = 'ws:'
  if (u.protocol === 'https:') u.protocol = 'wss:'
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new Error(`${s} is not a WebSocket URL: a page reaches the broker with ws:// or wss:// (MQTT over WebSocket)`)
  }
  return u.href
}

function disconnect () {
  app.fleet?.stop()
  app.client?.end().catch(() => {})
  app.client?.mqtt.end(true)
  app.fleet = app.client = null
}

function connect (url, username, password) {
  disconnect()
  let href
  try {
    href = brokerURL(url)
  } catch (err) {
    status('error', 'not connected')
    message('error', err.message)
    return
  }
  app.brokerHref = href
  status('connecting', 'connecting…')
  const mc = mqtt.connect(href, {
    protocolVersion: 5,
    username: username || undefined,
    password: password || undefined,
    reconnectPeriod: 2000,
    connectTimeout: 5000
  })
  mc.on('connect', () => status('connected', 'connected'))
  mc.on('reconnect', () => status('connecting', 'reconnecting…'))
  mc.on('offline', () => status('disconnected', 'broker unreachable, retrying every 2 s'))
  mc.on('error', err => {
    status('error', `broker refused: ${err.message}`)
    message('error', `broker ${href}: ${err.message}`)
  })
  const client = new Client(mc, {
    discoveryPrefix: app.config.discoveryPrefix || 'mqttrpc/srv',
    timeout: 5000
  })
  client.ready().catch(err => message('error', err.message))
  const fleet = new Fleet(client, { refresh: refreshMs() })
  fleet.addEventListener('change', scheduleRender)
  fleet.addEventListener('problem', e => message('warning', e.detail.message))
  app.client = client
  app.fleet = fleet
  fleet.run()
  scheduleRender()
}

/** The discovery period: ?refresh=SECONDS, else 5 s. */
function refreshMs () {
  const s = Number(new URLSearchParams(location.search).get('refresh'))
  return s > 0 ? s * 1000 : 5000
}

let renderPending = false
function scheduleRender () {
  if (renderPending) return
  renderPending = true
  requestAnimationFrame(() => {
    renderPending = false
    render()
  })
}

function render () {
  renderServices($('services'), $('summary'), app.fleet, $('filter').value, route())
  const r = route()
  const key = r ? `${r.service}/${r.endpoint ?? ''}` : ''
  if (app.view?.key === key) {
    app.view.update?.()
    return
  }
  const s = r && app.fleet?.services.get(r.service)
  if (!s) {
    if (r && app.fleet?.rounds === 0) return // the first replies are on their way
    showView(null, r ? h('p', { class: 'hint' }, `No service ${r.service} answers discovery.`) : null)
    return
  }
  const view = r.endpoint ? endpointView(app, s, r.endpoint) : serviceView(app, s)
  showView({ key, ...view })
}

function showView (view, element) {
  app.view?.dispose?.()
  app.view = view
  const detail = $('detail')
  if (view) fill(detail, view.element)
  else if (element) fill(detail, element)
  else fill(detail, h('p', { class: 'hint' }, 'Services appear here as they answer discovery (PING, INFO). Pick a service or an endpoint.'))
}

/** { service, endpoint? } from the location's hash, or null. */
function route () {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent)
  if (parts.length === 0) return null
  return { service: parts[0], endpoint: parts[1] }
}

async function loadConfig () {
  try {
    const res = await fetch('config.json', { cache: 'no-store' })
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`)
    return await res.json()
  } catch (err) {
    message('warning', `config.json: ${err.message}; enter the broker's WebSocket URL`)
    return {}
  }
}

async function main () {
  app.config = await loadConfig()
  const configured = app.config.broker ? new URL(app.config.broker, location.href) : null
  if (configured) configured.protocol = configured.protocol.replace(/^http/, 'ws')
  $('broker-url').value = configured?.href ?? ''
  $('broker-user').value = app.config.username ?? ''
  $('broker-password').value = app.config.password ?? ''
  $('connect').addEventListener('submit', e => {
    e.preventDefault()
    connect($('broker-url').value.trim(), $('broker-user').value, $('broker-password').value)
  })
  $('refresh').addEventListener('click', () => app.fleet?.refreshNow())
  $('filter').addEventListener('input', scheduleRender)
  window.addEventListener('hashchange', scheduleRender)
  if (app.config.version) document.title = `mqttrpc explorer (${app.config.version})`
  if ($('broker-url').value) connect($('broker-url').value, $('broker-user').value, $('broker-password').value)
  else status('idle', 'not connected')
  setInterval(() => app.view?.update?.(), 1000) // ages ("seen 3 s ago") move on
}

main()
