// asyncapi.js: a service's AsyncAPI document, shown and downloaded. The page
// asks one instance per version of the service for SCHEMA and posts the
// replies, as they came, to the server (api/asyncapi, which mqttrpc ui
// serves), which builds the document with the Go asyncapi package. The
// document is shown as text only.
import { h, fill, clip } from './dom.js'

/** A file name made of name: what is not a letter, digit, dot, dash or underscore becomes _. */
function fileName (name, ext) {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'service'
  return `${safe}-asyncapi.${ext}`
}

/** The AsyncAPI panel of service s: { element, dispose }. */
export function asyncapiPanel (app, s) {
  let abort = null
  let urls = [] // object URLs to revoke
  let disposed = false

  const button = h('button', { id: 'asyncapi-show', type: 'button', class: 'primary', onclick: () => load() }, 'Show AsyncAPI')
  const actions = h('div', { class: 'actions' }, button)
  const body = h('div', { class: 'asyncapi-body' })
  const element = h('section', { class: 'asyncapi', 'data-service': s.name },
    h('h3', {}, 'AsyncAPI'),
    h('p', { class: 'hint' },
      'The AsyncAPI 3 document of this service: one instance of each version is asked for its endpoints\u2019 schemas (SCHEMA), and the server builds the document from the replies.'),
    actions,
    body)

  function revoke () {
    for (const u of urls) URL.revokeObjectURL(u)
    urls = []
  }

  function failed (text) {
    fill(body, h('p', { id: 'asyncapi-error', role: 'alert' }, text))
  }

  /** The document from the server in format (yaml or json), or throws an Error saying why not. */
  async function build (replies, format, signal) {
    let res
    try {
      res = await fetch(`api/asyncapi?format=${format}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(replies),
        signal
      })
    } catch (err) {
      if (err.name === 'AbortError') throw err
      throw new Error(`The server that serves this page could not be reached to build the document: ${err.message}`)
    }
    const text = await res.text()
    if (res.status === 404) throw new Error('This server does not build AsyncAPI documents (no api/asyncapi): the page is served by something other than mqttrpc ui.')
    if (!res.ok) throw new Error(`The server could not build the document (${res.status}): ${text.trim() || res.statusText}`)
    return text
  }

  async function load () {
    abort?.abort()
    const controller = new AbortController()
    abort = controller
    button.disabled = true
    fill(body, h('p', { class: 'none' }, 'asking the instances for their schemas (SCHEMA)…'))
    try {
      const fleet = app.fleet
      const svc = fleet?.services.get(s.name)
      if (!fleet || !svc) throw new Error(`No instance of ${s.name} answers discovery now: there is no one to ask for SCHEMA.`)
      const versions = [...svc.versions.keys()].sort()
      const got = await Promise.all(versions.map(v => fleet.schemas(s.name, v).catch(() => null)))
      if (controller.signal.aborted || disposed) return
      const replies = got.filter(Boolean)
      const missing = versions.filter((v, i) => !got[i])
      if (replies.length === 0) {
        throw new Error(`No instance of ${s.name} answered SCHEMA` + (versions.length > 1 ? ` (versions ${versions.join(', ')})` : '') + ': the document needs the schemas of at least one.')
      }
      fill(body, h('p', { class: 'none' }, 'building the document…'))
      const raws = replies.map(r => r.raw)
      const [yaml, json] = await Promise.all([
        build(raws, 'yaml', controller.signal),
        build(raws, 'json', controller.signal)
      ])
      if (controller.signal.aborted || disposed) return
      revoke()
      const link = (id, text, type, ext, label) => {
        const url = URL.createObjectURL(new Blob([text], { type }))
        urls.push(url)
        return h('a', { id, class: 'download', href: url, download: fileName(s.name, ext) }, label)
      }
      fill(actions, button,
        link('asyncapi-download-yaml', yaml, 'application/yaml', 'yaml', 'Download YAML'),
        link('asyncapi-download-json', json, 'application/json', 'json', 'Download JSON'),
        h('span', { class: 'meta' }, `${yaml.length.toLocaleString('en-US')} characters`))
      const from = replies.map(r => `${r.version || 'no version'} (instance ${r.id})`).join(', ')
      fill(body,
        h('p', { class: 'meta' }, `From the SCHEMA of ${from}.`),
        missing.length > 0 ? h('p', { class: 'meta', 'data-missing': missing.join(' ') }, `No instance of version ${missing.join(', ')} answered SCHEMA: left out.`) : null,
        h('pre', { id: 'asyncapi-doc' }, clip(yaml)))
      button.textContent = 'Build again'
    } catch (err) {
      if (err.name === 'AbortError' || disposed) return
      failed(err.message)
    } finally {
      if (abort === controller) {
        abort = null
        button.disabled = false
      }
    }
  }

  return {
    element,
    dispose () {
      disposed = true
      abort?.abort()
      revoke()
    }
  }
}
