// call.js: calls an endpoint from the page: the call panel (its topic and
// options from call_fields.js, its body from call_body.js), sending and
// canceling, and the request, publish and stream flows, whose outcome
// call_result.js shows.
import { TimeoutError } from './lib/mqttrpc.js'
import { h, fill, ms } from './dom.js'
import { topicFields, optionFields } from './call_fields.js'
import { bodyEditor } from './call_body.js'
import { resultView, failure, percentOf, summary } from './call_result.js'

const STREAM_KEEP = 1000 // responses a stream's list keeps

/** The call panel of endpoint e: { element, dispose }. */
export function callPanel (app, e, schemas) {
  const urls = new Set() // object URLs of downloads, revoked when replaced or closed
  let running = null // the AbortController of the call under way
  let disposed = false

  let send = null
  const problems = h('div', { class: 'call-problems', id: 'call-problems', role: 'alert' })
  // An edit answers what kept the last try from being sent, or may: its
  // message goes, and the next try says again what is still wrong.
  const edited = () => {
    fill(problems)
    refresh()
  }
  const topic = topicFields(e.pattern, edited)
  const body = bodyEditor(e, schemas, edited)
  const options = optionFields(e)
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
