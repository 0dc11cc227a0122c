// endpoint.js: an endpoint's view: how it is reached and what it takes and
// returns, a form to call it, and its load.
import { h, fill, show, clip } from './dom.js'
import { metadataTable } from './service.js'
import { callPanel } from './call.js'
import { statsPanel } from './stats.js'

function property (name, value) {
  if (value === undefined || value === null || value === '') return null
  return h('tr', {}, h('th', {}, name), h('td', {}, value))
}

function properties (e) {
  return h('table', { class: 'properties' }, h('tbody', {},
    property('pattern', h('code', {}, e.pattern)),
    property('filter', e.filter && e.filter !== e.pattern ? h('code', {}, e.filter) : null),
    property('QoS', String(e.qos)),
    property('shared group', e.shared),
    property('request content type', e.requestContentType),
    property('reply content type', e.responseContentType),
    property('reply topic', e.replyTopic ? h('code', {}, e.replyTopic) : null),
    property('kind', e.streaming ? 'streams its responses' : e.noReply ? 'never replies' : 'request/reply')))
}

function schemaBlock (title, name, schema) {
  if (!schema) return h('div', { class: 'schema' }, h('h4', {}, title), h('p', { class: 'none' }, name ? `${name} (no JSON Schema published)` : 'no schema known'))
  return h('details', { class: 'schema' },
    h('summary', {}, title, name ? ` (${name})` : ''),
    h('pre', {}, clip(show(schema))))
}

// A page speaks MQTT 5: an instance on MQTT 3.1.1 sees no Response Topic
// in its requests.
function v311Warning (e) {
  const where = e.replyTopic
    ? `replies to ${e.replyTopic}, which this page does not watch`
    : 'cannot see where to reply'
  return h('p', { class: 'message warning', id: 'call-v311' },
    'Every instance of this service speaks MQTT 3.1.1, which has no Response Topic or Correlation Data: ' +
    `its handler gets a call from this page (MQTT 5) but ${where}, so the call times out.`)
}

/** The view of endpoint name of service s: { element, update, dispose }. */
export function endpointView (app, s, name) {
  const d = s.described()
  const e = d?.endpoints.find(x => x.name === name)
  if (!e) {
    return { element: h('p', { class: 'hint' }, `Service ${s.name} has no endpoint ${name}.`) }
  }
  const schemas = app.fleet.schemas(s.name, d.version).then(r => r?.endpoints.find(x => x.name === name) ?? null)
  const schemaArea = h('div', { class: 'schemas' }, h('p', { class: 'none' }, 'asking the service for its schemas (SCHEMA)…'))
  schemas.then(withSchemas => fill(schemaArea,
    schemaBlock('Request', e.requestSchema, withSchemas?.requestSchemaJSON),
    schemaBlock('Reply', e.responseSchema, withSchemas?.responseSchemaJSON)))
  const call = callPanel(app, e, schemas)
  const stats = statsPanel(app, s, e.name)
  const element = h('article', { class: 'endpoint-view', 'data-service': s.name, 'data-endpoint': e.name },
    h('h2', {}, h('a', { href: `#/${encodeURIComponent(s.name)}` }, s.name), ' / ', e.name),
    properties(e),
    h('h3', {}, 'Metadata'),
    metadataTable(e.metadata),
    h('h3', {}, 'Schemas'),
    schemaArea,
    s.v311 ? v311Warning(e) : null,
    call.element,
    stats.element)
  return {
    element,
    update () { stats.update?.() },
    dispose () {
      call.dispose?.()
      stats.dispose?.()
    }
  }
}
