// call.js: calls an endpoint from the page. The topic comes from the
// endpoint's pattern with a field per named level; the body from a form
// made from the request's JSON Schema (form.js), or a raw editor; the
// options are the QoS, a timeout and user properties. The outcome shows
// what came back as text, however big or odd: a reply is data, never markup.
import { RpcError, TimeoutError } from './lib/mqttrpc.js'
import { h, fill, clip, ms } from './dom.js'
import { compile, buildForm, fits, listProblems, SchemaError, ABSENT } from './form.js'

const SHOWN = 64 * 1024 // bytes of a reply body shown; the rest is a download
const PRETTY_MAX = 1024 * 1024 // a bigger JSON body is shown as it came, not indented
const STREAM_KEEP = 1000 // responses a stream's list keeps
const STREAM_ITEM = 2000 // characters of each listed response
const DEFAULT_TIMEOUT_S = 5

const utf8 = new TextDecoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The call panel of endpoint e of service s: { element, dispose }. */
export function callPanel (app, s, e, schemas) {
  const urls = new Set() // object URLs of downloads, revoked when replaced or closed
  let running = null // the AbortController of the call under way
  let disposed = false

  let send = null
  const topic = topicFields(e.pattern, () => refresh())
  const body = bodyEditor(e, schemas, () => refresh())
  const options = optionFields(e)
  const problems = h('div', { class: 'call-problems', id: 'call-problems', role: 'alert' })
  const sendHint = h('span', { class: 'send-hint' })
  send = h('button', { type: 'submit', id: 'call-send', class: 'primary' }, e.noReply ? 'Publish' : e.streaming ? 'Start' : 'Send')
  // A request or a stream can be given up: the handler is told (the
  // client sends the cancel), and its context ends.
  const cancel = !e.noReply
    ? h('button', { type: 'button', id: 'call-cancel', class: 'danger', disabled: true, onclick: () => running?.abort(new DOMException('canceled', 'AbortError')) }, 'Cancel')
    : null
  const result = h('div', { id: 'call-result', class: 'call-result', hidden: true })

  function refresh () {
    if (!send) return // still being built
    const missing = topic.invalid()
    send.disabled = Boolean(running) || missing.length > 0
    const why = `The topic needs ${missing.join(', ')}`
    send.title = missing.length > 0 ? why : ''
    sendHint.textContent = missing.length > 0 && !running ? why : ''
  }

  const form = h('form', {
    class: 'call-form',
    novalidate: true,
    autocomplete: 'off',
    onsubmit: ev => {
      ev.preventDefault()
      start()
    }
  },
  topic.element,
  body.element,
  options.element,
  h('div', { class: 'call-actions' }, send, cancel, sendHint, problems))

  const element = h('section', { class: 'call', 'data-kind': e.streaming ? 'stream' : e.noReply ? 'no-reply' : 'request' },
    h('h3', {}, 'Call'),
    e.noReply ? h('p', { class: 'hint' }, 'This endpoint never replies: a call publishes the request and waits for nothing but the broker.') : null,
    form,
    result)
  refresh()

  function revokeAll () {
    for (const u of urls) URL.revokeObjectURL(u)
    urls.clear()
  }

  async function start () {
    if (running) return
    const problemsFound = []
    const t = topic.read(true)
    if (t.error) problemsFound.push(t.error)
    const b = body.read()
    if (b.error) problemsFound.push(b.error)
    const o = options.read()
    if (o.error) problemsFound.push(o.error)
    if (problemsFound.length > 0) {
      fill(problems, h('span', {}, 'Nothing was sent: '), problemsFound.join('; '))
      return
    }
    fill(problems)
    revokeAll()
    const ac = new AbortController()
    running = ac
    refresh()
    if (cancel) cancel.disabled = false
    const out = resultView(result, t.topic, urls, e.noReply ? 'no-reply' : e.streaming)
    try {
      if (e.noReply) await publish(app, t.topic, b, o, out)
      else if (e.streaming) await stream(app, t.topic, b, o, out, ac.signal)
      else await request(app, t.topic, b, o, out, ac.signal)
    } finally {
      if (running === ac) running = null
      if (cancel) cancel.disabled = true
      if (!disposed) refresh()
    }
  }

  return {
    element,
    dispose () {
      disposed = true
      running?.abort(new DOMException('the view was closed', 'AbortError'))
      running = null
      revokeAll()
      body.dispose()
    }
  }
}

// ——— the topic ———

// topicFields makes a field per wildcard level of pattern: {name} (one
// level), {name...} (the rest of the topic), or an unnamed + or #.
function topicFields (pattern, onChange) {
  const levels = pattern.split('/').map((level, i) => {
    const m = /^\{([^{}]+?)(\.\.\.)?\}$/.exec(level)
    if (m) return { param: m[1], multi: Boolean(m[2]) }
    if (level === '+') return { param: `level${i + 1}`, multi: false }
    if (level === '#') return { param: `level${i + 1}`, multi: true }
    return { text: level }
  })
  const params = levels.filter(l => l.param)
  const preview = h('code', { id: 'call-topic', class: 'topic' })
  let showAll = false
  for (const p of params) {
    p.input = h('input', {
      'data-param': p.param,
      id: `param-${p.param}`,
      type: 'text',
      spellcheck: 'false',
      placeholder: p.multi ? 'one or more levels: a/b' : 'one level',
      oninput: () => update(),
    })
    p.error = h('span', { class: 'field-error', role: 'alert' })
  }
  const problem = p => {
    const v = p.input.value
    if (v === '') return 'required'
    if (/[+#]/.test(v)) return 'no + or # in a topic'
    if (!p.multi && v.includes('/')) return 'one level: no /'
    if (v.includes('\u0000')) return 'no NUL character in a topic'
    if (p.multi && v.split('/').some(x => x === '')) return 'no empty level'
    return ''
  }
  const update = () => {
    fill(preview, levels.map((l, i) => [
      i > 0 ? '/' : '',
      l.param
        ? (l.input.value && !problem(l) ? h('span', { class: 'param-value' }, l.input.value) : h('span', { class: 'param-missing' }, `{${l.param}${l.multi ? '...' : ''}}`))
        : l.text
    ]))
    for (const p of params) {
      const why = problem(p)
      // what is typed is judged at once; a field left empty once a call was tried
      const say = showAll || (p.input.value !== '' && why !== 'required')
      p.error.textContent = say ? why : ''
      p.input.toggleAttribute('aria-invalid', Boolean(say && why))
    }
    onChange()
  }
  const element = h('div', { class: 'call-topic' },
    h('div', { class: 'topic-line' }, h('span', { class: 'label' }, 'Topic'), preview),
    params.length > 0
      ? h('div', { class: 'params' }, params.map(p => h('label', { class: 'param' },
        h('span', { class: 'field-name' }, p.param, h('abbr', { class: 'required', title: 'required' }, '*')),
        p.input, p.error)))
      : null)
  update()
  return {
    element,
    /** What keeps a call from being sent: "room", "line (one level: no /)". */
    invalid: () => params.filter(p => problem(p)).map(p => problem(p) === 'required' ? p.param : `${p.param} (${problem(p)})`),
    read (show) {
      if (show) { showAll = true; update() }
      const bad = params.filter(p => problem(p))
      if (bad.length > 0) return { error: `the topic needs ${bad.map(p => `${p.param} (${problem(p)})`).join(', ')}` }
      return { topic: levels.map(l => l.param ? l.input.value : l.text).join('/') }
    }
  }
}

// ——— the body ———

function isJSONType (ct) {
  return ct === 'application/json' || ct.endsWith('+json')
}

// bodyEditor is the body's form and raw editor. What the body is comes from
// the endpoint's request content type, and else its schema: text (sent as a
// string), json (a value), or bytes (the text as UTF-8; empty sends nothing).
function bodyEditor (e, schemas, onChange) {
  const ct = e.requestContentType || ''
  const raw = h('textarea', { id: 'call-raw', rows: 6, spellcheck: 'false', autocomplete: 'off' })
  const rawError = h('span', { class: 'field-error', id: 'call-raw-error', role: 'alert' })
  const mode = h('button', { type: 'button', id: 'call-mode', disabled: true, hidden: true, title: 'No form for this body' }, 'Edit as form')
  const note = h('p', { class: 'call-note', id: 'call-schema-note' }, 'asking the service for the request schema (SCHEMA)…')
  const switchNote = h('div', { class: 'call-note switch-note', role: 'status' })
  const formArea = h('div', { class: 'form-area', hidden: true })
  const rawArea = h('div', { class: 'raw-area' }, raw, rawError)
  const kindLabel = h('span', { class: 'body-kind' })
  let kind = ct.startsWith('text/') ? 'text' : isJSONType(ct) ? 'json' : 'bytes'
  let form = null // buildForm's, when the schema makes one
  let needsBody = false // the schema asks for a body
  let inForm = false
  let rawTimer = 0

  const describeKind = () => {
    kindLabel.textContent = kind === 'text'
      ? `text (${ct || 'text/plain'})`
      : kind === 'json' ? `JSON (${isJSONType(ct) ? ct : 'application/json'})` : 'raw bytes (the text, as UTF-8; empty sends nothing)'
  }
  const checkRaw = () => {
    rawError.textContent = ''
    raw.removeAttribute('aria-invalid')
    if (kind !== 'json' || raw.value.trim() === '') return true
    try {
      JSON.parse(raw.value)
      return true
    } catch (err) {
      rawError.textContent = `not JSON: ${err.message}`
      raw.setAttribute('aria-invalid', '')
      return false
    }
  }
  raw.addEventListener('input', () => {
    clearTimeout(rawTimer)
    rawTimer = setTimeout(checkRaw, 250)
    onChange()
  })

  const showForm = on => {
    inForm = on
    formArea.hidden = !on
    rawArea.hidden = on
    mode.textContent = on ? 'Edit as JSON' : 'Edit as form'
    mode.setAttribute('data-mode', on ? 'form' : 'raw')
  }

  mode.addEventListener('click', () => {
    if (!form) return
    fill(switchNote)
    if (inForm) {
      // form → JSON: what the fields hold; a field that holds no value is left out
      const r = form.read(false)
      raw.value = r.value === ABSENT || r.value === undefined ? '' : JSON.stringify(r.value, null, 2)
      checkRaw()
      if (r.errors.length > 0) {
        fill(switchNote, 'Left out of the JSON: ', r.errors.map(p => `${p.path || 'body'} (${p.message})`).join(', '))
      }
      showForm(false)
      raw.focus()
      return
    }
    // JSON → form, where it fits
    const text = raw.value.trim()
    if (text === '') {
      form.clear()
      showForm(true)
      return
    }
    let v
    try {
      v = JSON.parse(text)
    } catch (err) {
      checkRaw()
      fill(switchNote, 'The JSON does not parse, so the form cannot take it: fix it here first.')
      return
    }
    const misfits = []
    if (!fits(form.node, v, '', misfits)) {
      fill(switchNote, h('span', {}, 'The form cannot hold this JSON; keep editing it here:'),
        h('ul', {}, misfits.slice(0, 8).map(m => h('li', {}, m))))
      return
    }
    form.set(v)
    showForm(true)
  })

  const element = h('div', { class: 'call-body' },
    h('div', { class: 'body-head' }, h('span', { class: 'label' }, 'Body'), kindLabel, mode),
    note, formArea, rawArea, switchNote)
  describeKind()

  Promise.resolve(schemas).catch(() => null).then(withSchemas => {
    const schema = withSchemas?.requestSchemaJSON ?? null
    const say = (cls, text) => { note.className = `call-note ${cls}`; note.setAttribute('data-kind', cls); fill(note, text) }
    if (kind === 'text') {
      say('info', 'The body is text, sent as it is.')
      return
    }
    if (schema === null || schema === undefined) {
      say('info', kind === 'json'
        ? 'No JSON Schema is known for the request: type the body as JSON (empty sends none).'
        : 'No JSON Schema is known for the request: the body is sent as the text typed here, empty by default.')
      return
    }
    if (typeof schema === 'object' && !Array.isArray(schema) && schema.type === 'string' && schema.format === 'binary') {
      kind = 'bytes'
      describeKind()
      say('info', 'The endpoint takes raw bytes: the text typed here is sent as UTF-8; leave it empty to send nothing.')
      return
    }
    if (kind === 'bytes') { // a schema, but no content type: the service spoke of JSON
      kind = 'json'
      describeKind()
    }
    let node
    try {
      node = compile(schema)
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err
      say('warning', `The request schema cannot make a form (${err.message}), so the body is typed as JSON here.`)
      return
    }
    if (node.kind === 'json' && !node.array && !node.map) {
      say('info', 'The request schema allows any JSON value: type it here.')
      return
    }
    needsBody = true
    form = buildForm(node, onChange)
    fill(formArea, form.element)
    fill(note)
    note.hidden = true
    mode.disabled = mode.hidden = false
    mode.title = 'Switch between the form and the JSON it makes'
    showForm(true)
  }).catch(err => {
    note.className = 'call-note warning'
    fill(note, `The request schema cannot make a form (${err.message}), so the body is typed as JSON here.`)
  })

  return {
    element,
    /** { value, contentType } to send, or { error }; marks what is wrong. */
    read () {
      if (inForm) {
        const r = form.read(true)
        if (r.errors.length > 0) {
          fill(switchNote)
          return { error: `fix the marked fields: ${r.errors.map(p => `${p.path || 'body'} (${p.message})`).join(', ')}` }
        }
        return jsonBody(r.value === ABSENT ? undefined : r.value, ct)
      }
      const text = raw.value
      if (kind === 'text') return { value: text, contentType: ct || undefined }
      if (kind === 'bytes') return { value: text === '' ? undefined : new TextEncoder().encode(text) }
      if (text.trim() === '') {
        if (needsBody) {
          rawError.textContent = 'the request schema asks for a body'
          return { error: 'the body is empty, and the request schema asks for one' }
        }
        return { value: undefined }
      }
      if (!checkRaw()) return { error: 'the body is not JSON' }
      return jsonBody(JSON.parse(text), ct)
    },
    dispose () { clearTimeout(rawTimer) }
  }
}

// jsonBody is a JSON value as the client sends it: it takes a string for
// text, so a JSON string goes as its JSON text, with the JSON content type.
function jsonBody (v, ct) {
  const contentType = isJSONType(ct) ? ct : 'application/json'
  if (v === undefined) return { value: undefined }
  if (typeof v === 'string') return { value: new TextEncoder().encode(JSON.stringify(v)), contentType }
  return { value: v, contentType: contentType === 'application/json' ? undefined : contentType }
}

// ——— the options ———

function optionFields (e) {
  const qos = h('select', { id: 'call-qos', name: 'qos' },
    [0, 1, 2].map(q => h('option', { value: String(q), selected: q === e.qos }, String(q))))
  qos.value = String(e.qos)
  const timeout = h('input', { id: 'call-timeout', name: 'timeout', type: 'number', min: '0.1', max: '3600', step: 'any', value: String(DEFAULT_TIMEOUT_S) })
  const timeoutError = h('span', { class: 'field-error', role: 'alert' })
  const rows = h('div', { class: 'header-rows', id: 'call-header-rows' })
  const headersError = h('span', { class: 'field-error', role: 'alert' })
  const addRow = () => {
    const row = h('div', { class: 'header-row' },
      h('input', { type: 'text', 'data-header': 'key', placeholder: 'key', spellcheck: 'false' }),
      h('input', { type: 'text', 'data-header': 'value', placeholder: 'value', spellcheck: 'false' }),
      h('button', { type: 'button', class: 'remove', title: 'Remove this header', onclick: () => row.remove() }, '×'))
    rows.append(row)
    row.querySelector('input').focus()
  }
  const element = h('div', { class: 'call-options' },
    h('label', {}, h('span', { class: 'label' }, 'QoS'), qos),
    e.noReply
      ? null
      : h('label', { title: e.streaming ? 'How long to wait for each response' : 'How long to wait for the reply' },
        h('span', { class: 'label' }, e.streaming ? 'Idle timeout' : 'Timeout'), timeout, ' s', timeoutError),
    h('div', { class: 'headers' },
      h('span', { class: 'label' }, 'Headers'),
      rows,
      h('button', { type: 'button', id: 'call-add-header', onclick: addRow }, '+ Header'),
      headersError))
  return {
    element,
    read () {
      timeoutError.textContent = headersError.textContent = ''
      const seconds = Number(timeout.value)
      if (!e.noReply && (timeout.value === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 3600)) {
        timeoutError.textContent = 'a number of seconds, over 0, at most 3600'
        return { error: 'the timeout is not a number of seconds' }
      }
      const headers = {}
      for (const row of rows.children) {
        const k = row.querySelector('[data-header="key"]').value.trim()
        const v = row.querySelector('[data-header="value"]').value
        if (k === '' && v === '') continue
        let why = ''
        if (k === '') why = 'a header has a value but no key'
        else if (k.startsWith('__')) why = `${k}: keys starting with __ are mqttrpc's own`
        else if (Object.hasOwn(headers, k)) why = `${k} is there twice`
        if (why) {
          headersError.textContent = why
          return { error: why }
        }
        headers[k] = v
      }
      return { qos: Number(qos.value), timeoutMs: seconds * 1000, seconds, headers }
    }
  }
}

// ——— the outcome ———

// resultView shows a call's outcome in el: status, round trip, headers and
// body of a reply, or a stream's responses. streaming is true for a
// stream, 'no-reply' for an endpoint that never replies.
function resultView (el, topic, urls, streaming) {
  el.hidden = false
  const status = h('span', { id: 'call-status', class: 'status' }, 'sending…')
  const rtt = h('span', { id: 'call-rtt', class: 'rtt' })
  const contentType = h('span', { id: 'call-content-type', class: 'content-type' })
  const headers = h('div', { id: 'call-headers', class: 'reply-headers' })
  const bodyMeta = h('div', { id: 'call-body-meta', class: 'body-meta' })
  const body = h('pre', { id: 'call-body', class: 'reply-body' })
  const extra = h('div', { class: 'stream-area' })
  let url = null // the download of the body shown
  el.dataset.outcome = 'running'
  el.dataset.code = ''
  fill(el,
    h('div', { class: 'result-head' }, status, rtt, contentType),
    h('div', { class: 'result-topic' }, 'to ', h('code', {}, topic)),
    extra,
    h('div', { class: 'reply-parts', hidden: streaming === 'no-reply' },
      h('h4', {}, streaming === true ? 'Headers of the last response' : 'Headers'), headers,
      h('h4', {}, streaming === true ? 'Body of the last response' : 'Body'), bodyMeta, body))
  return {
    el,
    extra,
    outcome (outcome, code, text) {
      el.dataset.outcome = outcome
      el.dataset.code = code === undefined || code === null ? '' : String(code)
      status.textContent = text
    },
    status (text) { status.textContent = text },
    rtt (text) { rtt.textContent = text },
    reply (reply) {
      contentType.textContent = reply.contentType ? `Content-Type ${reply.contentType}` : 'no Content-Type'
      headerTable(headers, reply.headers)
      if (url) { // a stream's last response replaces the one before
        URL.revokeObjectURL(url)
        urls.delete(url)
      }
      url = replyBody(body, bodyMeta, reply, urls)
    },
    noReply (text) {
      contentType.textContent = ''
      fill(headers, h('p', { class: 'none' }, 'none'))
      fill(bodyMeta)
      body.textContent = text
    }
  }
}

function headerTable (el, headers) {
  const entries = Object.entries(headers || {})
  if (entries.length === 0) {
    fill(el, h('p', { class: 'none' }, 'no user properties'))
    return
  }
  fill(el, h('table', { class: 'headers' }, h('tbody', {},
    entries.map(([k, v]) => h('tr', { 'data-header': k }, h('th', {}, k), h('td', {}, v))))))
}

/** 1.2 KiB, 10.0 MiB. */
function bytes (n) {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

// How a body reads: json, text, or bytes (a hex dump). A body with no
// content type that is UTF-8 text with no control characters reads as text.
function bodyKind (reply) {
  const ct = reply.contentType
  if (isJSONType(ct)) return 'json'
  if (ct.startsWith('text/')) return 'text'
  if (ct !== '') return 'bytes'
  try {
    const s = strictUtf8.decode(reply.body.subarray(0, SHOWN))
    // eslint-disable-next-line no-control-regex
    return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s) ? 'bytes' : 'text'
  } catch {
    // a cut in the middle of a character at SHOWN is still text
    return reply.body.length > SHOWN ? 'text' : 'bytes'
  }
}

function hexDump (b, max) {
  const lines = []
  for (let i = 0; i < Math.min(b.length, max); i += 16) {
    const row = b.subarray(i, Math.min(i + 16, b.length))
    const hex = Array.from(row, x => x.toString(16).padStart(2, '0')).join(' ')
    const ascii = Array.from(row, x => x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.').join('')
    lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`)
  }
  return lines.join('\n')
}

// replyBody shows at most SHOWN bytes of reply's body in pre, as text
// (textContent: markup stays text), with its size and a download in meta;
// it returns the download's object URL.
function replyBody (pre, meta, reply, urls) {
  const b = reply.body
  if (b.length === 0) {
    fill(meta, h('span', { class: 'size' }, 'empty'))
    pre.textContent = ''
    pre.hidden = true
    return null
  }
  pre.hidden = false
  const kind = bodyKind(reply)
  let text
  let note = ''
  if (kind === 'bytes') {
    text = hexDump(b, 4096)
    if (b.length > 4096) note = `the first 4 KiB of ${bytes(b.length)}`
  } else if (b.length > SHOWN) {
    text = utf8.decode(b.subarray(0, SHOWN))
    note = `the first 64 KiB of ${bytes(b.length)}${kind === 'json' ? ', as it came' : ''}`
  } else {
    text = utf8.decode(b)
    if (kind === 'json' && b.length <= PRETTY_MAX) {
      try {
        text = JSON.stringify(JSON.parse(text), null, 2)
      } catch {
        note = 'not valid JSON: shown as it came'
      }
    }
    text = clip(text)
  }
  pre.textContent = text
  pre.dataset.kind = kind
  const url = URL.createObjectURL(new Blob([b], { type: reply.contentType || 'application/octet-stream' }))
  urls.add(url)
  const ext = kind === 'json' ? 'json' : kind === 'text' ? 'txt' : 'bin'
  fill(meta,
    h('span', { class: 'size', 'data-bytes': b.length }, bytes(b.length)),
    kind === 'bytes' ? h('span', {}, ' · bytes') : null,
    note ? h('span', { class: 'note' }, ` · showing ${note}`) : null,
    ' · ',
    h('a', { href: url, download: `reply.${ext}`, id: 'call-download' }, 'Download the whole body'))
  return url
}

function failure (out, err, seconds, what = '') {
  if (err instanceof RpcError) {
    out.outcome('error', err.code, `error ${err.code}${err.statusMessage ? `: ${err.statusMessage}` : ''}${what}`)
    if (err.reply) out.reply(err.reply)
  } else if (err instanceof TimeoutError) {
    out.outcome('timeout', '', `timed out after ${seconds} s${what}`)
  } else if (err?.name === 'AbortError') {
    out.outcome('canceled', '', `canceled${what}`)
  } else {
    out.outcome('failed', '', `failed: ${err?.message ?? String(err)}${what}`)
  }
}

async function request (app, topic, b, o, out, signal) {
  const started = performance.now()
  try {
    if (!app.client) throw new Error('not connected to a broker')
    const reply = await app.client.request(topic, b.value, { timeout: o.timeoutMs, qos: o.qos, headers: o.headers, contentType: b.contentType, signal })
    const t = performance.now() - started
    const code = reply.headers.__stat ?? 200
    out.outcome('ok', code, `OK ${code}`)
    out.rtt(ms(t))
    out.reply(reply)
  } catch (err) {
    out.rtt(ms(performance.now() - started))
    failure(out, err, o.seconds, err?.name === 'AbortError' ? ': the handler was told to stop' : '')
  }
}

async function publish (app, topic, b, o, out) {
  const started = performance.now()
  try {
    if (!app.client) throw new Error('not connected to a broker')
    await app.client.publish(topic, b.value, { qos: o.qos, headers: o.headers, contentType: b.contentType })
    out.rtt(ms(performance.now() - started))
    out.outcome('ok', '', `published at QoS ${o.qos}${o.qos > 0 ? ', the broker has it' : ''}: the endpoint never replies, so there is no reply to wait for`)
    out.noReply('(no reply: the endpoint never replies)')
  } catch (err) {
    out.rtt(ms(performance.now() - started))
    failure(out, err, o.seconds)
  }
}

// The percent a streamed response carries: a number percent or progress,
// 0 to 100, at the top of its JSON.
function percentOf (reply) {
  if (reply.body.length > 4096 || reply.body.length === 0) return null
  let v
  try {
    v = JSON.parse(utf8.decode(reply.body))
  } catch {
    return null
  }
  if (typeof v !== 'object' || v === null) return null
  for (const k of ['percent', 'progress']) {
    if (typeof v[k] === 'number' && v[k] >= 0 && v[k] <= 100) return v[k]
  }
  return null
}

function summary (reply) {
  if (reply.body.length === 0) return '(empty)'
  const kind = bodyKind(reply)
  if (kind === 'bytes') return `(${bytes(reply.body.length)} of bytes)`
  const text = utf8.decode(reply.body.subarray(0, STREAM_ITEM + 4))
  if (text.length <= STREAM_ITEM) return text
  return `${text.slice(0, STREAM_ITEM)}… (${bytes(reply.body.length)})`
}

async function stream (app, topic, b, o, out, signal) {
  const started = performance.now()
  const list = h('ol', { id: 'stream-responses', class: 'stream-responses', start: '0' })
  const bar = h('progress', { id: 'stream-progress', max: '100', hidden: true })
  const barText = h('span', { class: 'progress-text', hidden: true })
  const dropped = h('p', { class: 'none', hidden: true })
  fill(out.extra, h('div', { class: 'progress-line' }, bar, barText), dropped, list)
  let n = 0
  let first = 0
  out.status('started: waiting for the first response…')
  try {
    if (!app.client) throw new Error('not connected to a broker')
    for await (const reply of app.client.stream(topic, b.value, { idleTimeout: o.timeoutMs, qos: o.qos, headers: o.headers, contentType: b.contentType, signal })) {
      const t = performance.now() - started
      if (n === 0) first = t
      n++
      const li = h('li', { 'data-index': reply.index },
        h('span', { class: 'index' }, `#${reply.index}`),
        h('span', { class: 'at' }, `+${ms(t)}`),
        h('code', { class: 'response' }, summary(reply)))
      list.append(li)
      if (list.children.length > STREAM_KEEP) {
        list.firstChild.remove()
        list.setAttribute('start', String(n - STREAM_KEEP))
        dropped.hidden = false
        dropped.textContent = `showing the last ${STREAM_KEEP} of ${n} responses`
      }
      const p = percentOf(reply)
      if (p !== null) {
        bar.hidden = barText.hidden = false
        bar.value = p
        barText.textContent = `${p} %`
      }
      out.status(`running: ${n} response${n === 1 ? '' : 's'}`)
      out.rtt(`first after ${ms(first)} · ${ms(t)} so far`)
      out.reply(reply)
    }
    const t = performance.now() - started
    out.outcome('ok', 200, `completed: ${n} response${n === 1 ? '' : 's'}`)
    out.rtt(n > 0 ? `first after ${ms(first)} · done in ${ms(t)}` : `done in ${ms(t)}`)
  } catch (err) {
    const t = performance.now() - started
    out.rtt(n > 0 ? `first after ${ms(first)} · ended after ${ms(t)}` : `ended after ${ms(t)}`)
    const after = ` after ${n} response${n === 1 ? '' : 's'}`
    if (err?.name === 'AbortError') {
      out.outcome('canceled', '', `canceled${after}: the handler was told to stop`)
    } else if (err instanceof TimeoutError) {
      out.outcome('timeout', '', `timed out: no response for ${o.seconds} s,${after}`)
    } else {
      failure(out, err, o.seconds, after)
    }
  }
}
