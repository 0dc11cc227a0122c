// dom.js: the only way the explorer builds its page. Everything a service
// sends (names, descriptions, metadata, schemas, replies) is untrusted: it
// reaches the page as text nodes and attribute values, never as markup, so
// there is no innerHTML anywhere in the explorer.

/**
 * h(tag, props, ...children) makes an element. props: on<event>
 * functions, and any other attribute, class too (set with setAttribute, so
 * a value is never parsed). A child is a Node, a string or number (a text
 * node), or null/undefined/false (skipped); arrays are flattened.
 */
export function h (tag, props = {}, ...children) {
  return build(document.createElement(tag), props, children)
}

const SVG = 'http://www.w3.org/2000/svg'

/** svg(tag, attrs, ...children) makes an SVG element, as h makes HTML ones. */
export function svg (tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children)
}

function build (el, props, children) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (k === 'value') el.value = v
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

function append (el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else if (c instanceof Node) el.appendChild(c)
    else el.appendChild(document.createTextNode(String(c)))
  }
}

/** Replaces el's children with children (as h takes them). */
export function fill (el, ...children) {
  el.replaceChildren()
  append(el, children)
  return el
}

/** Text for any value: strings as they are, the rest as indented JSON. */
export function show (v) {
  if (typeof v === 'string') return v
  if (v instanceof Uint8Array) return `(${v.length} bytes)`
  try {
    return JSON.stringify(v, null, 2) ?? String(v)
  } catch {
    return String(v)
  }
}

/** At most max characters of s, saying how much was left out. */
export function clip (s, max = 64 * 1024) {
  if (s.length <= max) return s
  return s.slice(0, max) + `\n… ${s.length - max} more characters not shown`
}

/** A duration in ms as people read it: 0.42 ms, 12 ms, 1.3 s. */
export function ms (v) {
  if (!Number.isFinite(v)) return '–'
  if (v < 1) return `${v.toFixed(2)} ms`
  if (v < 1000) return `${v.toFixed(v < 10 ? 1 : 0)} ms`
  return `${(v / 1000).toFixed(1)} s`
}
