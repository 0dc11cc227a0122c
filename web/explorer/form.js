// form.js: a form for a JSON value, made from its JSON Schema (as SCHEMA
// answers it: standalone, its definitions under $defs). compile() turns the
// schema into a tree of fields, or throws SchemaError saying why it cannot
// (it is not an object, a $ref does not resolve or refers to itself, a type
// is unknown, it is too big); buildForm() makes the form of such a tree.
//
// What the form does not hold field by field (a union, a map, an array of
// objects, a recursive type) it holds as a JSON text area of its own. The
// schema's own limits (minimum, maxLength, pattern...) are warnings, not
// errors: the operator may send what the service will refuse, to see it
// refuse. What stops a call is input that is not a value at all: text in
// a number field, JSON that does not parse, a required field left empty.
import { h } from './dom.js'

/** Why a schema cannot make a form. */
export class SchemaError extends Error {
  constructor (message) {
    super(message)
    this.name = 'SchemaError'
  }
}

/** What read() gives for an optional field left empty: no key at all. */
export const ABSENT = Symbol('absent')

const MAX_FIELDS = 400
const MAX_DEPTH = 24
const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'])
const PRIMITIVE = new Set(['string', 'number', 'integer', 'boolean', 'enum'])

function isObject (v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function where (path) {
  return path === '' ? 'the body' : path
}

/**
 * The field tree of schema root. A node is { kind, description, default,
 * title, ... }: kind is object (props: [{ name, node, required }]), array
 * (items: a primitive node), string, number, integer, boolean, enum
 * (values), null, or json (any value, typed as JSON). Throws SchemaError.
 */
export function compile (root) {
  if (root === true) return { kind: 'json', any: true }
  if (!isObject(root)) throw new SchemaError(root === false ? 'the schema allows no value at all' : 'the schema is not a JSON object')
  let fields = 0

  // resolve follows s's $ref (siblings apply over what it names); a chain
  // of $refs that comes back to one it passed is a cycle.
  const resolve = (s, path) => {
    const chain = []
    while (isObject(s) && s.$ref !== undefined) {
      const ref = s.$ref
      if (typeof ref !== 'string' || !ref.startsWith('#')) {
        throw new SchemaError(`${where(path)}: $ref ${JSON.stringify(ref)} is not a reference into the schema (#/$defs/…)`)
      }
      if (chain.includes(ref)) throw new SchemaError(`${where(path)}: $ref ${ref} refers back to itself (${[...chain, ref].join(' → ')})`)
      chain.push(ref)
      const target = pointer(root, ref)
      if (target === undefined) throw new SchemaError(`${where(path)}: $ref ${ref} does not resolve: the schema has no such definition`)
      const { $ref, ...siblings } = s
      s = Object.keys(siblings).length === 0 || !isObject(target) ? target : { ...target, ...siblings }
    }
    return { s, refs: chain }
  }

  const walk = (s, path, stack, depth) => {
    if (++fields > MAX_FIELDS) throw new SchemaError(`the schema has more than ${MAX_FIELDS} fields, too many for a form`)
    if (depth > MAX_DEPTH) throw new SchemaError(`${where(path)} is nested more than ${MAX_DEPTH} levels deep`)
    const { s: r, refs } = resolve(s, path)
    if (refs.some(ref => stack.includes(ref))) return { kind: 'json', recursive: true } // a recursive type
    stack = [...stack, ...refs]
    s = r
    if (s === true) return { kind: 'json' }
    if (s === false) throw new SchemaError(`${where(path)}: the schema allows no value`)
    if (!isObject(s)) throw new SchemaError(`${where(path)}: ${JSON.stringify(s)?.slice(0, 40)} is not a schema`)
    const base = {
      title: typeof s.title === 'string' ? s.title : '',
      description: typeof s.description === 'string' ? s.description : '',
      default: s.default,
      readOnly: s.readOnly === true
    }
    // a nullable type (["string", "null"], or oneOf with {type: null}) is
    // the type; a union of other types is typed as JSON
    for (const key of ['oneOf', 'anyOf']) {
      if (s[key] === undefined) continue
      if (!Array.isArray(s[key])) throw new SchemaError(`${where(path)}: ${key} is not a list`)
      const rest = s[key].filter(x => !(isObject(x) && x.type === 'null'))
      if (rest.length !== 1) return { ...base, kind: 'json' }
      const { [key]: _, ...others } = s
      const one = resolve(rest[0], path)
      if (one.refs.some(ref => stack.includes(ref))) return { ...base, kind: 'json', recursive: true }
      return walk({ ...(isObject(one.s) ? one.s : {}), ...others }, path, [...stack, ...one.refs], depth + 1)
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf)) throw new SchemaError(`${where(path)}: allOf is not a list`)
      if (s.allOf.length !== 1) return { ...base, kind: 'json' }
      const { allOf, ...others } = s
      const one = resolve(allOf[0], path)
      return walk({ ...(isObject(one.s) ? one.s : {}), ...others }, path, [...stack, ...one.refs], depth + 1)
    }
    if (s.const !== undefined) return { ...base, kind: 'enum', values: [s.const] }
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) throw new SchemaError(`${where(path)}: enum is not a list of values`)
      return { ...base, kind: 'enum', values: s.enum }
    }
    let type = s.type
    if (Array.isArray(type)) {
      const rest = type.filter(t => t !== 'null')
      for (const t of type) {
        if (typeof t !== 'string' || !TYPES.has(t)) throw new SchemaError(`${where(path)}: unknown type ${JSON.stringify(t)}`)
      }
      if (rest.length !== 1) return { ...base, kind: 'json' }
      type = rest[0]
    }
    if (type === undefined) {
      if (s.properties !== undefined) type = 'object'
      else if (s.items !== undefined) type = 'array'
      else return { ...base, kind: 'json' }
    }
    if (typeof type !== 'string' || !TYPES.has(type)) throw new SchemaError(`${where(path)}: unknown type ${JSON.stringify(type)}`)
    const num = k => typeof s[k] === 'number' && Number.isFinite(s[k]) ? s[k] : undefined
    switch (type) {
      case 'string':
        return {
          ...base,
          kind: 'string',
          format: typeof s.format === 'string' ? s.format : '',
          minLength: num('minLength'),
          maxLength: num('maxLength'),
          pattern: typeof s.pattern === 'string' ? s.pattern : ''
        }
      case 'number':
      case 'integer':
        return {
          ...base,
          kind: type,
          minimum: num('minimum'),
          maximum: num('maximum'),
          exclusiveMinimum: num('exclusiveMinimum'),
          exclusiveMaximum: num('exclusiveMaximum'),
          multipleOf: num('multipleOf') > 0 ? num('multipleOf') : undefined
        }
      case 'boolean':
        return { ...base, kind: 'boolean' }
      case 'null':
        return { ...base, kind: 'null' }
      case 'array': {
        if (s.items === undefined || s.items === true || Array.isArray(s.items)) return { ...base, kind: 'json', array: true }
        const item = resolve(s.items, `${path}[]`)
        const t = isObject(item.s) ? item.s.type : undefined
        const primitive = isObject(item.s) && (item.s.enum !== undefined || item.s.const !== undefined || ['string', 'number', 'integer', 'boolean'].includes(t))
        if (!primitive) {
          if (isObject(item.s) && typeof t === 'string' && !TYPES.has(t)) throw new SchemaError(`${where(path)}[]: unknown type ${JSON.stringify(t)}`)
          return { ...base, kind: 'json', array: true }
        }
        const items = walk(s.items, `${path}[]`, stack, depth + 1)
        return { ...base, kind: PRIMITIVE.has(items.kind) ? 'array' : 'json', array: true, items, minItems: num('minItems'), maxItems: num('maxItems') }
      }
      case 'object': {
        if (s.properties !== undefined && !isObject(s.properties)) throw new SchemaError(`${where(path)}: properties is not an object`)
        const names = Object.keys(s.properties ?? {})
        if (names.length === 0 && s.additionalProperties !== undefined && s.additionalProperties !== false) {
          return { ...base, kind: 'json', map: true } // a map: keys the schema does not name
        }
        const required = new Set(Array.isArray(s.required) ? s.required.filter(r => typeof r === 'string') : [])
        const props = names.map(name => ({
          name,
          required: required.has(name),
          node: walk(s.properties[name], path === '' ? name : `${path}.${name}`, stack, depth + 1)
        }))
        return { ...base, kind: 'object', props }
      }
    }
  }
  return walk(root, '', [], 0)
}

// pointer finds the JSON Pointer ref ("#/$defs/X") in root.
function pointer (root, ref) {
  if (ref === '#') return root
  if (!ref.startsWith('#/')) return undefined
  let v = root
  for (const raw of ref.slice(2).split('/')) {
    let key
    try {
      key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~')
    } catch {
      return undefined
    }
    if (!isObject(v) && !Array.isArray(v)) return undefined
    if (!Object.prototype.hasOwnProperty.call(v, key)) return undefined
    v = v[key]
  }
  return v
}

function same (a, b) {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Whether value v fits node: the form can hold it. Pushes what does not
 * fit onto misfits, as text.
 */
export function fits (node, v, path, misfits) {
  const at = where(path)
  const say = why => { misfits.push(`${at}: ${why}`); return false }
  switch (node.kind) {
    case 'json': return true
    case 'string': return typeof v === 'string' || say('not a string')
    case 'number': return typeof v === 'number' || say('not a number')
    case 'integer': return Number.isInteger(v) || say('not a whole number')
    case 'boolean': return typeof v === 'boolean' || say('not true or false')
    case 'null': return v === null || say('not null')
    case 'enum': return node.values.some(x => same(x, v)) || say(`${JSON.stringify(v)} is not one of ${node.values.map(x => JSON.stringify(x)).join(', ')}`)
    case 'array': {
      if (!Array.isArray(v)) return say('not a list')
      let ok = true
      v.forEach((x, i) => { ok = fits(node.items, x, `${path}.${i}`, misfits) && ok })
      return ok
    }
    case 'object': {
      if (!isObject(v)) return say('not an object')
      let ok = true
      const known = new Set(node.props.map(p => p.name))
      for (const k of Object.keys(v)) {
        if (!known.has(k)) ok = say(`${JSON.stringify(k)} is not a field the schema names`)
      }
      for (const p of node.props) {
        if (v[p.name] !== undefined) ok = fits(p.node, v[p.name], path === '' ? p.name : `${path}.${p.name}`, misfits) && ok
      }
      return ok
    }
  }
  return say('cannot be shown')
}

/** What the schema asks of a value, for the hint under its field. */
function limits (node) {
  const out = []
  const add = (k, text) => { if (node[k] !== undefined) out.push(text(node[k])) }
  const plural = (n, one) => `${n} ${one}${n === 1 ? '' : 's'}`
  add('minimum', n => `min ${n}`)
  add('exclusiveMinimum', n => `over ${n}`)
  add('maximum', n => `max ${n}`)
  add('exclusiveMaximum', n => `under ${n}`)
  add('multipleOf', n => `a multiple of ${n}`)
  add('minLength', n => `at least ${plural(n, 'character')}`)
  add('maxLength', n => `at most ${plural(n, 'character')}`)
  add('minItems', n => `at least ${plural(n, 'item')}`)
  add('maxItems', n => `at most ${plural(n, 'item')}`)
  if (node.format) out.push(`format ${node.format}`)
  if (node.pattern) out.push(`pattern ${node.pattern}`)
  if (node.kind === 'integer') out.push('whole number')
  if (node.recursive) out.push('recursive: typed as JSON')
  else if (node.map) out.push('a map: typed as a JSON object')
  else if (node.kind === 'json' && node.array) out.push('a list: typed as JSON')
  else if (node.kind === 'json') out.push('any JSON value')
  return out.join(' · ')
}

// The warning for a value the schema's limits do not allow.
function outOfLimits (node, v) {
  if (typeof v === 'number') {
    if (node.minimum !== undefined && v < node.minimum) return `below the minimum ${node.minimum}`
    if (node.maximum !== undefined && v > node.maximum) return `above the maximum ${node.maximum}`
    if (node.exclusiveMinimum !== undefined && v <= node.exclusiveMinimum) return `not above ${node.exclusiveMinimum}`
    if (node.exclusiveMaximum !== undefined && v >= node.exclusiveMaximum) return `not below ${node.exclusiveMaximum}`
    if (node.multipleOf !== undefined && Math.abs(v / node.multipleOf - Math.round(v / node.multipleOf)) > 1e-9) return `not a multiple of ${node.multipleOf}`
  }
  if (typeof v === 'string') {
    if (node.format === 'date-time' && !RFC3339.test(v)) return `not a date-time such as ${PLACEHOLDERS['date-time']} (RFC 3339)`
    if (node.minLength !== undefined && [...v].length < node.minLength) return `shorter than ${node.minLength} characters`
    if (node.maxLength !== undefined && [...v].length > node.maxLength) return `longer than ${node.maxLength} characters`
    if (node.pattern) {
      try {
        if (!new RegExp(node.pattern, 'u').test(v)) return `does not match ${node.pattern}`
      } catch {}
    }
  }
  return ''
}

// RFC3339 is the date-time of JSON Schema's format, which Go's time.Time
// takes, with its date and time checked for range.
const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/

const PLACEHOLDERS = {
  'date-time': '2025-01-31T12:00:00Z',
  time: '12:00:00Z',
  email: 'name@example.com',
  uri: 'https://…',
  uuid: '00000000-0000-0000-0000-000000000000',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
  duration: 'P1DT2H'
}

/**
 * The form of node (from compile): { element, read(show), set(v), clear() }.
 * read(show) gives { value (or ABSENT), errors: [{ path, message }],
 * warnings }, and with show marks them next to their fields. onChange is
 * called on every edit.
 */
export function buildForm (node, onChange = () => {}) {
  const ctx = { onChange, showAll: false }
  const root = field(node, '', 'body', node.kind !== 'json', ctx)
  const element = h('div', { class: 'form' }, root.element)
  if (node.default !== undefined) root.set(node.default)
  return {
    element,
    read (show = false) {
      if (show) ctx.showAll = true
      const out = { errors: [], warnings: [] }
      out.value = root.read(out, show || ctx.showAll)
      return out
    },
    set (v) { root.set(v) },
    clear () { root.clear() },
    node
  }
}

// field makes the field of node at path. Each field is { element, read(out,
// show), set(v), clear(), empty() }; read returns the value or ABSENT.
function field (node, path, name, required, ctx) {
  switch (node.kind) {
    case 'object': return objectField(node, path, name, required, ctx)
    case 'array': return arrayField(node, path, name, required, ctx)
    default: return leafField(node, path, name, required, ctx)
  }
}

function label (node, name, required) {
  return h('span', { class: 'field-name' }, name,
    required ? h('abbr', { class: 'required', title: 'required' }, '*') : null,
    node.title && node.title !== name ? h('span', { class: 'field-title' }, ` ${node.title}`) : null)
}

function hint (node) {
  const text = [node.description, limits(node)].filter(Boolean).join(' — ')
  return text ? h('span', { class: 'field-hint' }, text) : null
}

function objectField (node, path, name, required, ctx) {
  const children = node.props.map(p => ({
    name: p.name,
    f: field(p.node, path === '' ? p.name : `${path}.${p.name}`, p.name, p.required, ctx)
  }))
  const body = children.length > 0
    ? children.map(c => c.f.element)
    : h('p', { class: 'field-hint' }, 'no fields: the body is {}')
  const element = path === ''
    ? h('div', { class: 'fields', 'data-field': '' }, hint(node), body)
    : h('fieldset', { class: 'fields', 'data-field': path },
      h('legend', {}, label(node, name, required)), hint(node), body)
  const self = {
    element,
    empty: () => children.every(c => c.f.empty()),
    read (out, show) {
      // an optional object nobody filled in is left out, with no errors
      if (!required && path !== '' && self.empty()) {
        children.forEach(c => c.f.read({ errors: [], warnings: [] }, false))
        return ABSENT
      }
      const v = {}
      for (const c of children) {
        const x = c.f.read(out, show)
        if (x !== ABSENT) v[c.name] = x
      }
      return v
    },
    set (v) {
      for (const c of children) {
        if (v && v[c.name] !== undefined) c.f.set(v[c.name])
        else c.f.clear()
      }
    },
    clear () { children.forEach(c => c.f.clear()) }
  }
  for (const p of node.props) {
    if (p.node.default !== undefined) children.find(c => c.name === p.name).f.set(p.node.default)
  }
  return self
}

function arrayField (node, path, name, required, ctx) {
  const rows = [] // { f, element }
  const list = h('div', { class: 'array-rows' })
  const error = h('span', { class: 'field-error', role: 'alert' })
  const warning = h('span', { class: 'field-warning' })
  const renumber = () => {
    rows.forEach((r, i) => {
      const p = `${path}.${i}`
      r.element.querySelectorAll('[data-field]').forEach(el => el.setAttribute('data-field', p))
      r.element.querySelector('.array-index').textContent = String(i)
    })
  }
  const add = (v, focus) => {
    const i = rows.length
    const f = leafField(node.items, `${path}.${i}`, '', true, ctx, true)
    const row = { f }
    row.element = h('div', { class: 'array-row' },
      h('span', { class: 'array-index' }, String(i)),
      f.element,
      h('button', {
        type: 'button',
        class: 'remove',
        title: 'Remove this item',
        onclick: () => {
          rows.splice(rows.indexOf(row), 1)
          row.element.remove()
          renumber()
          ctx.onChange()
        }
      }, '×'))
    rows.push(row)
    list.append(row.element)
    if (v !== undefined) f.set(v)
    if (focus) row.element.querySelector('input, select, textarea')?.focus()
  }
  const element = h('div', { class: 'field array', 'data-field': path },
    h('div', { class: 'field-label' }, label(node, name, required)),
    hint(node),
    list,
    h('div', { class: 'array-actions' },
      h('button', { type: 'button', class: 'add', 'data-add': path, onclick: () => { add(undefined, true); ctx.onChange() } }, '+ Add item'),
      error, warning))
  const self = {
    element,
    empty: () => rows.length === 0,
    read (out, show) {
      const v = []
      for (const r of rows) {
        const x = r.f.read(out, show)
        if (x !== ABSENT) v.push(x)
      }
      let warn = ''
      if (node.minItems !== undefined && rows.length < node.minItems) warn = `fewer than ${node.minItems} items`
      if (node.maxItems !== undefined && rows.length > node.maxItems) warn = `more than ${node.maxItems} items`
      if (warn) out.warnings.push({ path, message: warn })
      warning.textContent = show ? warn : ''
      if (rows.length === 0 && !required) return ABSENT
      return v
    },
    set (v) {
      self.clear()
      if (Array.isArray(v)) v.forEach(x => add(x))
    },
    clear () {
      rows.splice(0).forEach(r => r.element.remove())
    }
  }
  return self
}

// leafField is a field with one control: a text, number or date input, a
// select, a checkbox, or a JSON text area.
function leafField (node, path, name, required, ctx, inArray = false) {
  const attrs = { 'data-field': path, name: path || 'body', id: `field-${path || 'body'}` }
  let control
  switch (node.kind) {
    case 'string': {
      const type = node.format === 'date' ? 'date' : node.format === 'email' ? 'email' : 'text'
      control = h('input', { ...attrs, type, placeholder: PLACEHOLDERS[node.format], spellcheck: 'false', autocomplete: 'off' })
      break
    }
    case 'number':
    case 'integer':
      control = h('input', {
        ...attrs,
        type: 'number',
        inputmode: node.kind === 'integer' ? 'numeric' : 'decimal',
        min: node.minimum ?? node.exclusiveMinimum,
        max: node.maximum ?? node.exclusiveMaximum,
        step: node.multipleOf ?? (node.kind === 'integer' ? 1 : 'any')
      })
      break
    case 'boolean':
      control = h('input', { ...attrs, type: 'checkbox' })
      break
    case 'enum':
      control = h('select', attrs,
        h('option', { value: '' }, required ? '— choose —' : '— none —'),
        node.values.map((v, i) => h('option', { value: String(i) }, typeof v === 'string' ? v : JSON.stringify(v))))
      break
    case 'null':
      control = h('output', attrs, 'null')
      break
    default: // json
      control = h('textarea', { ...attrs, rows: node.array || node.map ? 3 : 2, spellcheck: 'false', placeholder: node.array ? '[ … ]' : node.map ? '{ "key": "value" }' : 'JSON' })
  }
  if (node.readOnly) control.setAttribute('title', 'read-only: the service may ignore it')
  const error = h('span', { class: 'field-error', role: 'alert' })
  const warning = h('span', { class: 'field-warning' })
  let touched = false
  // A date-time is typed as text, in any offset; "now" fills in the
  // current time in UTC, whole seconds.
  const now = node.kind === 'string' && node.format === 'date-time'
    ? h('button', {
      type: 'button',
      class: 'field-now',
      'data-now': path,
      title: 'the current time, in UTC',
      onclick: () => {
        control.value = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
        onEdit()
      }
    }, 'now')
    : null
  const element = inArray
    ? h('span', { class: 'field leaf' }, control, now, error, warning)
    : h('div', { class: `field leaf ${node.kind}` },
      h('label', { class: 'field-label', for: attrs.id }, label(node, name, required)),
      h('span', { class: 'field-control' }, control, now,
        node.kind === 'boolean' ? h('span', { class: 'field-hint' }, ' ') : null),
      error, warning, hint(node))

  const empty = () => {
    if (node.kind === 'boolean') return !control.checked
    if (node.kind === 'null') return true
    if (node.kind === 'number' || node.kind === 'integer') return control.value === '' && !control.validity.badInput
    return control.value === ''
  }

  // check gives { value, error, warning } of what the control holds.
  const check = () => {
    switch (node.kind) {
      case 'boolean': return { value: control.checked }
      case 'null': return { value: null }
      case 'enum':
        if (control.value === '') return required ? { error: 'required: choose one', empty: true } : { value: ABSENT }
        return { value: node.values[Number(control.value)] }
      case 'number':
      case 'integer': {
        if (control.validity.badInput) return { error: 'not a number' }
        const raw = control.value.trim()
        if (raw === '') return required ? { error: inArray ? 'empty: fill it in or remove it' : 'required', empty: true } : { value: ABSENT }
        const n = Number(raw)
        if (!Number.isFinite(n)) return { error: 'not a number' }
        if (node.kind === 'integer' && !Number.isInteger(n)) return { error: 'not a whole number' }
        return { value: n, warning: outOfLimits(node, n) }
      }
      case 'string':
        if (control.value === '') return required ? { error: inArray ? 'empty: fill it in or remove it' : 'required', empty: true } : { value: ABSENT }
        return { value: control.value, warning: outOfLimits(node, control.value) }
      default: {
        const raw = control.value.trim()
        if (raw === '') return required ? { error: 'required: type a JSON value', empty: true } : { value: ABSENT }
        try {
          return { value: JSON.parse(raw) }
        } catch (err) {
          return { error: `not JSON: ${err.message}` }
        }
      }
    }
  }
  // An empty required field is said after a call was tried, not as soon
  // as the operator passes it by.
  const mark = (r, show) => {
    if (r.empty && !ctx.showAll) show = false
    error.textContent = show && r.error ? r.error : ''
    warning.textContent = show && r.warning ? `${r.warning}: the service may refuse it` : ''
    control.toggleAttribute('aria-invalid', Boolean(show && r.error))
    element.classList.toggle('invalid', Boolean(show && r.error))
  }
  // What is typed is judged as it is typed, not when the field loses the
  // focus: a message that appeared then would move the page under the
  // pointer on its way to the Send button.
  const onEdit = () => {
    touched = true
    mark(check(), true)
    ctx.onChange()
  }
  control.addEventListener('input', onEdit)
  control.addEventListener('change', onEdit)

  return {
    element,
    empty,
    read (out, show) {
      const r = check()
      if (r.error) out.errors.push({ path, message: r.error })
      if (r.warning) out.warnings.push({ path, message: r.warning })
      mark(r, show || touched)
      return r.error ? ABSENT : r.value
    },
    set (v) {
      switch (node.kind) {
        case 'boolean': control.checked = v === true; break
        case 'null': break
        case 'enum': {
          const i = node.values.findIndex(x => same(x, v))
          control.value = i >= 0 ? String(i) : ''
          break
        }
        case 'number':
        case 'integer':
        case 'string':
          control.value = v === undefined || v === null ? '' : String(v)
          break
        default:
          control.value = v === undefined ? '' : JSON.stringify(v, null, 2)
      }
      mark({}, false)
    },
    clear () {
      if (node.kind === 'boolean') control.checked = false
      else if (node.kind !== 'null') control.value = ''
      mark({}, false)
    }
  }
}
