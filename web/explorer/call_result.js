// call_result.js: the outcome of a call, shown as text however big or odd:
// a reply is data, never markup. Its status and round trip, the headers and
// body of a reply (a hex dump for bytes, a download for the whole), and the
// one-line summary and percent of a streamed response.
import { RpcError, TimeoutError } from './lib/mqttrpc.js'
import { h, fill, clip } from './dom.js'
import { isJSONType } from './call_body.js'

const SHOWN = 64 * 1024 // bytes of a reply body shown; the rest is a download
const PRETTY_MAX = 1024 * 1024 // a bigger JSON body is shown as it came, not indented
const STREAM_ITEM = 2000 // characters of each listed response

const utf8 = new TextDecoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

// resultView shows a call's outcome in el: status, round trip, headers and
// body of a reply, or a stream's responses. streaming is true for a
// stream, 'no-reply' for an endpoint that never replies.
export function resultView (el, topic, urls, streaming) {
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
  // Whatever the reply's content type, the download is opaque bytes: a
  // blob URL has the page's origin, and a text/html one opened in a tab
  // would run the service's script as the explorer.
  const url = URL.createObjectURL(new Blob([b], { type: 'application/octet-stream' }))
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

export function failure (out, err, seconds, what = '') {
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

// The percent a streamed response carries: a number percent or progress,
// 0 to 100, at the top of its JSON.
export function percentOf (reply) {
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

// summary is a streamed response as its line in the list: its text, cut
// at STREAM_ITEM characters, or its size when it is bytes.
export function summary (reply) {
  if (reply.body.length === 0) return '(empty)'
  const kind = bodyKind(reply)
  if (kind === 'bytes') return `(${bytes(reply.body.length)} of bytes)`
  const text = utf8.decode(reply.body.subarray(0, STREAM_ITEM + 4))
  if (text.length <= STREAM_ITEM) return text
  return `${text.slice(0, STREAM_ITEM)}… (${bytes(reply.body.length)})`
}
