// service.js: a service's view: what it says of itself, its instances and
// whether they still answer, its endpoints, its load (STATS) and its
// AsyncAPI document.
import { h, fill, ms } from './dom.js'
import { statsPanel } from './stats.js'
import { asyncapiPanel } from './asyncapi.js'

/** A table of a string map, or a dash when it is empty. */
export function metadataTable (m) {
  const entries = Object.entries(m || {})
  if (entries.length === 0) return h('p', { class: 'none' }, 'no metadata')
  return h('table', { class: 'metadata' },
    h('tbody', {}, entries.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))))
}

/** "3 s ago" for a Date.now() time. */
export function ago (t) {
  const s = Math.max(0, Math.round((Date.now() - t) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  return `${Math.floor(s / 3600)} h ago`
}

/** What the page knows of instance i: nothing new while it is not connected. */
function state (app, i) {
  if (!app.connected) return `unknown while the page is not connected (last seen ${ago(i.seen)})`
  return i.alive ? 'answering' : `stopped answering (last seen ${ago(i.seen)})`
}

function instanceRows (app, s) {
  return [...s.instances.values()].sort((a, b) => a.id.localeCompare(b.id)).map(i =>
    h('tr', { class: 'instance', 'data-instance': i.id, 'data-alive': String(i.alive) },
      h('td', {}, h('code', {}, i.id)),
      h('td', {}, i.version || '–'),
      h('td', { class: 'protocol' }, i.v311 ? 'MQTT 3.1.1' : 'MQTT 5'),
      h('td', { class: 'state' }, state(app, i)),
      h('td', {}, i.alive ? ms(i.rtt) : '–')))
}

/** The view of service s: { element, update, dispose }. */
export function serviceView (app, s) {
  const d = s.described()
  const instances = h('tbody', {}, instanceRows(app, s))
  const stats = statsPanel(app, s)
  const doc = asyncapiPanel(app, s)
  const element = h('article', { class: 'service-view', 'data-service': s.name },
    h('h2', {}, s.name),
    d?.description ? h('p', { class: 'description' }, d.description) : null,
    h('h3', {}, 'Instances'),
    h('table', { class: 'instances' },
      h('thead', {}, h('tr', {}, h('th', {}, 'id'), h('th', {}, 'version'), h('th', {}, 'protocol'), h('th', {}, 'state'), h('th', {}, 'PING round trip'))),
      instances),
    h('h3', {}, 'Metadata'),
    metadataTable(s.instances.values().next().value?.metadata),
    h('h3', {}, 'Endpoints'),
    h('table', { class: 'endpoint-list' },
      h('thead', {}, h('tr', {}, h('th', {}, 'name'), h('th', {}, 'pattern'), h('th', {}, 'QoS'), h('th', {}, 'kind'))),
      h('tbody', {}, (d?.endpoints ?? []).map(e => h('tr', {},
        h('td', {}, h('a', { href: `#/${encodeURIComponent(s.name)}/${encodeURIComponent(e.name)}` }, e.name)),
        h('td', {}, h('code', {}, e.pattern)),
        h('td', {}, String(e.qos)),
        h('td', {}, e.streaming ? 'stream' : e.noReply ? 'no reply' : 'request/reply'))))),
    stats.element,
    doc.element)
  return {
    element,
    update () {
      fill(instances, instanceRows(app, s))
      stats.update?.()
    },
    dispose () {
      stats.dispose?.()
      doc.dispose?.()
    }
  }
}
