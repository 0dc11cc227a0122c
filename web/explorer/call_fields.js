// call_fields.js: the call panel's topic and options. The topic comes from
// the endpoint's pattern, with a field per named level; the options are the
// QoS, a timeout and user properties.
import { h, fill } from './dom.js'

const DEFAULT_TIMEOUT_S = 5

// topicFields makes a field per wildcard level of pattern: {name} (one
// level), {name...} (the rest of the topic), or an unnamed + or #.
export function topicFields (pattern, onChange) {
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

/** The QoS, timeout and header fields of a call to e. */
export function optionFields (e) {
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
