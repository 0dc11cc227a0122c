// call_body.js: the body of a call: a form made from the request's JSON
// Schema (form.js), or a raw editor, and the switch between them.
import { h, fill } from './dom.js'
import { compile, buildForm, fits, SchemaError, ABSENT } from './form.js'

// isJSONType: application/json, or a type with the +json suffix.
export function isJSONType (ct) {
  return ct === 'application/json' || ct.endsWith('+json')
}

// bodyEditor is the body's form and raw editor. What the body is comes from
// the endpoint's request content type, and else its schema: text (sent as a
// string), json (a value), or bytes (the text as UTF-8; empty sends nothing).
export function bodyEditor (e, schemas, onChange) {
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
  // The raw editor's message is judged a moment after typing stops, so it
  // has a line of its own, always: the Send button below must not move
  // under the pointer when it comes or goes.
  const sayRaw = text => {
    rawError.textContent = text
    rawError.title = text
  }
  const checkRaw = () => {
    sayRaw('')
    raw.removeAttribute('aria-invalid')
    if (kind !== 'json' || raw.value.trim() === '') return true
    try {
      JSON.parse(raw.value)
      return true
    } catch (err) {
      sayRaw(`not JSON: ${err.message}`)
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
          sayRaw('the request schema asks for a body')
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
