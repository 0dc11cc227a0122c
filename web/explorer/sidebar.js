// sidebar.js: the list of services, their versions and instances, and their
// endpoints, filtered by what the user typed. A service's entry is rebuilt
// only when what it shows changed, and the others are kept: a fleet's
// burst of INFO replies then costs the browser one new entry a reply, not
// the whole list each frame, and a click or a focus is not lost to a
// refresh.
import { h } from './dom.js'

let shown = '' // the signature of what the list shows now
const entries = new Map() // service name -> { signature, element }

/**
 * Renders fleet's services into list and a one-line count into summary;
 * filter keeps the services and endpoints whose names or patterns contain
 * it; at marks the selected { service, endpoint }.
 */
export function renderServices (list, summary, fleet, filter, at) {
  const services = fleet ? [...fleet.services.values()].sort((a, b) => a.name.localeCompare(b.name)) : []
  const needle = filter.trim().toLowerCase()
  const rows = services.map(s => row(s, needle)).filter(Boolean)
  // An entry shows its row, and the selection where it is in that entry.
  const signatures = rows.map(r => JSON.stringify([r.signature, at?.service === r.s.name ? at : null]))
  const signature = JSON.stringify([signatures, fleet?.rounds > 0])
  if (signature === shown) return
  shown = signature
  const instances = services.reduce((n, s) => n + s.instances.size, 0)
  const endpoints = rows.reduce((n, r) => n + r.endpoints.length, 0)
  summary.textContent = !fleet
    ? ''
    : fleet.rounds === 0 && services.length === 0
      ? 'asking the services…'
      : [count(services.length, 'service'), count(instances, 'instance'), count(endpoints, 'endpoint')].join(', ')
  const wanted = rows.map((r, i) => entry(r, signatures[i], at))
  wanted.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] ?? null)
  })
  while (list.children.length > wanted.length) list.lastChild.remove()
  const listed = new Set(rows.map(r => r.s.name))
  for (const name of entries.keys()) {
    if (!listed.has(name)) entries.delete(name)
  }
  if (fleet?.rounds > 0 && services.length === 0) {
    list.append(h('p', { class: 'hint' }, 'No service answers discovery on this broker.'))
  }
}

/** The element of row r: the one shown already, unless its signature changed. */
function entry (r, signature, at) {
  let e = entries.get(r.s.name)
  if (e?.signature !== signature) {
    e = { signature, element: serviceEntry(r, at) }
    entries.set(r.s.name, e)
  }
  return e.element
}

/** "1 service", "2 services". */
function count (n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

/** What the list shows of service s, or null when the filter hides it. */
function row (s, needle) {
  const d = s.described()
  const matches = t => t.toLowerCase().includes(needle)
  const all = d?.endpoints ?? []
  const endpoints = !needle || matches(s.name) ? all : all.filter(e => matches(e.name) || matches(e.pattern))
  if (needle && !matches(s.name) && endpoints.length === 0) return null
  const instances = [...s.instances.values()].sort((a, b) => a.id.localeCompare(b.id))
  const versions = [...new Set(instances.map(i => i.version))].sort()
  const alive = instances.filter(i => i.alive).length
  return {
    s,
    endpoints,
    versions,
    alive,
    instances,
    signature: [s.name, versions, alive, instances.length, endpoints.map(e => [e.name, e.pattern, e.streaming])]
  }
}

function serviceEntry (r, at) {
  const { s } = r
  const selected = at?.service === s.name
  const down = r.alive === 0
  return h('section', { class: 'service', 'data-service': s.name, 'data-alive': String(!down), 'aria-current': selected && !at.endpoint ? 'page' : null },
    h('a', { class: 'service-name', href: `#/${encodeURIComponent(s.name)}` },
      h('span', { class: 'name' }, s.name),
      r.versions.map(v => h('span', { class: 'version' }, v || 'no version')),
      h('span', { class: down ? 'count down' : 'count', title: 'instances answering / known' },
        down ? 'stopped answering' : `${r.alive}/${r.instances.length}`)),
    h('ul', { class: 'endpoints' }, r.endpoints.map(e => h('li', {},
      h('a', {
        class: 'endpoint',
        href: `#/${encodeURIComponent(s.name)}/${encodeURIComponent(e.name)}`,
        'data-endpoint': e.name,
        'aria-current': selected && at.endpoint === e.name ? 'page' : null
      },
      h('span', { class: 'name' }, e.name),
      e.streaming ? h('span', { class: 'tag' }, 'stream') : null,
      h('code', { class: 'pattern' }, e.pattern))))))
}
