// mqttrpc.js: mqttrpc's wire for browsers and node, on MQTT.js.
//
// An ES module with no build step. In node it connects over TCP (mqtt://) or
// WebSocket (ws://); in a browser over MQTT over WebSocket, with 'mqtt'
// mapped to MQTT.js's ES build by an import map (see the README, "Browser
// and dashboards"). It speaks MQTT 5 only: requests need the Response Topic,
// Correlation Data and User Properties that MQTT 3.1.1 lacks.
//
// The wire is the Go library's (README: "Wire conventions", "Long-running
// commands", "Services, discovery and scatter-gather"):
//   - one wildcard inbox subscription per client, <prefix>/<client token>/+,
//     and a fresh <request token> per call as its Response Topic;
//   - Correlation Data is a random UUID, as text; a reply that carries other
//     Correlation Data than its request's is dropped;
//   - a reply whose __stat is outside 200-299 is an error (RpcError);
//   - a streaming request carries __stream d:0[:<s left>] and is followed by
//     c:1:last[:<s left>]; responses come as d:<i>, end with c:<n>:last, or
//     with s:0 and __stat;
//   - a cancel is __stream s:0[:<s>], __stat 499, __stMsg, sent to the request
//     topic with the request's Response Topic and Correlation Data.
import mqtt from 'mqtt'

const STATUS_CANCELED = 499
const MSG_CANCELED = 'canceled by the caller'
const DEFAULT_TIMEOUT = 5000 // ms, as the Go library's request timeout
const STREAM_AHEAD = 1024 // how far past the next index a response is kept
const REPLY_BUFFER = 16384 // replies a gather or stream holds for its loop, as the Go library's ReplyBuffer

const fromUtf8 = new TextDecoder()

/** A reply that carries a __stat outside 200-299: the handler failed. */
export class RpcError extends Error {
  constructor (code, message, reply) {
    super(`remote error ${code}: ${message}`)
    this.name = 'RpcError'
    this.code = code // the __stat status, a number (500 if __stat is not one)
    this.statusMessage = message // __stMsg
    this.reply = reply
  }
}

/** No reply (or, in a stream, no response) came in time. */
export class TimeoutError extends Error {
  constructor (message) {
    super(message)
    this.name = 'TimeoutError'
  }
}

/** A streamed response was lost for good: a later one came, and the idle timeout passed. */
export class StreamBrokenError extends Error {
  constructor (message) {
    super(message)
    this.name = 'StreamBrokenError'
  }
}

/**
 * A gather (or discovery) that had to drop replies: more came at once than
 * its loop took, past replyBuffer. What came before is yielded; dropped
 * says how many were lost.
 */
export class RepliesDroppedError extends Error {
  constructor (dropped, limit) {
    super(`mqttrpc: ${dropped} replies dropped: they came while ${limit} waited for the loop (see replyBuffer)`)
    this.name = 'RepliesDroppedError'
    this.dropped = dropped
  }
}

/**
 * Connects to url (mqtt://, ws://, wss://...) with MQTT 5 and returns a
 * Client once its inbox is subscribed. options go to MQTT.js, except
 * inboxPrefix (default 'mqttrpc/inbox'), timeout (the default request
 * timeout, ms, 5000), discoveryPrefix (default 'mqttrpc/srv') and
 * replyBuffer (replies a gather or stream holds for its loop, 16384).
 */
export async function connect (url, options = {}) {
  const { inboxPrefix, timeout, discoveryPrefix, replyBuffer, ...mqttOptions } = options
  const mc = await mqtt.connectAsync(url, { protocolVersion: 5, ...mqttOptions })
  const c = new Client(mc, { inboxPrefix, timeout, discoveryPrefix, replyBuffer, owned: true })
  try {
    await c.ready()
  } catch (err) {
    mc.end(true)
    throw err
  }
  return c
}

/** An mqttrpc caller on one MQTT.js client. */
export class Client {
  /**
   * Wraps a connected MQTT.js client (protocolVersion 5); call ready() before
   * the first request. connect() does both.
   */
  constructor (mqttClient, { inboxPrefix = 'mqttrpc/inbox', timeout = DEFAULT_TIMEOUT, discoveryPrefix = 'mqttrpc/srv', replyBuffer = REPLY_BUFFER, owned = false } = {}) {
    this.mqtt = mqttClient
    this.timeout = timeout
    this.replyBuffer = replyBuffer
    this.discoveryPrefix = discoveryPrefix
    this.inbox = `${inboxPrefix}/${randomHex(8)}`
    this.pending = new Map() // request token -> { correlation, deliver(reply) }
    this.droppedReplies = 0
    this.owned = owned
    this.onMessage = (topic, payload, packet) => this.dispatch(topic, payload, packet)
    mqttClient.on('message', this.onMessage)
    this.subscribed = null
  }

  /** Subscribes the inbox (once); MQTT.js restores it after a reconnect. */
  ready () {
    if (!this.subscribed) {
      this.subscribed = this.mqtt.subscribeAsync(`${this.inbox}/+`, { qos: 2 }).then(granted => {
        const g = granted && granted[0]
        if (g && g.qos > 2) throw new Error(`mqttrpc: inbox subscription refused (reason ${g.qos})`)
      })
    }
    return this.subscribed
  }

  /** Stops listening; ends the MQTT.js client if connect() made it. */
  async end () {
    this.mqtt.removeListener('message', this.onMessage)
    for (const p of this.pending.values()) p.close(new Error('mqttrpc: client ended'))
    this.pending.clear()
    if (this.owned) await this.mqtt.endAsync()
  }

  dispatch (topic, payload, packet) {
    if (!topic.startsWith(this.inbox + '/')) return
    const p = this.pending.get(topic.slice(this.inbox.length + 1))
    const reply = toReply(topic, payload, packet)
    if (!p || (reply.correlationData !== null && reply.correlationData !== p.correlation)) {
      this.droppedReplies++
      return
    }
    p.deliver(reply)
  }

  /**
   * Sends body to topic and resolves with the Reply; rejects with RpcError
   * for an error reply, TimeoutError after timeout ms, or the signal's reason
   * when signal aborts (a cancel then goes to the handler).
   * Options: timeout (ms), headers, qos (default 0), contentType, signal.
   */
  async request (topic, body, options = {}) {
    const timeout = options.timeout ?? this.timeout
    const { signal } = options
    signal?.throwIfAborted()
    await this.ready()
    const req = this.newRequest(topic, body, options)
    const deadline = Date.now() + timeout
    return new Promise((resolve, reject) => {
      let timer
      const finish = () => {
        clearTimeout(timer)
        this.pending.delete(req.token)
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = () => {
        finish()
        this.sendCancel(req)
        reject(signal.reason)
      }
      this.pending.set(req.token, {
        correlation: req.correlation,
        deliver: reply => {
          finish()
          const err = replyError(reply)
          if (err) reject(err)
          else resolve(reply)
        },
        close: err => { finish(); reject(err) }
      })
      timer = setTimeout(() => {
        finish()
        reject(new TimeoutError(`mqttrpc: no reply from ${topic} within ${timeout} ms`))
      }, timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      this.publishRequest(req, { expiry: secondsLeft(deadline) }).catch(err => { finish(); reject(err) })
    })
  }

  /**
   * request(), resolving with the reply's value: parsed JSON for
   * application/json, a string for text/*, undefined for an empty body, else
   * the bytes.
   */
  async call (topic, body, options) {
    return (await this.request(topic, body, options)).value()
  }

  /**
   * Sends body to topic as a streaming request and yields each Reply (with
   * its index) in index order until the handler ends the stream. It throws
   * RpcError if the handler ends it with an error, TimeoutError when no
   * response comes within idleTimeout ms (default: the client's timeout) or
   * the whole call passes timeout ms (default: none), StreamBrokenError when a
   * response is lost for good. Breaking out of the loop, an error, or the
   * signal aborting sends the cancel.
   * Options: timeout, idleTimeout, headers, qos, contentType, signal.
   */
  async * stream (topic, body, options = {}) {
    const { signal, timeout } = options
    const idle = options.idleTimeout ?? this.timeout
    signal?.throwIfAborted()
    await this.ready()
    const deadline = timeout ? Date.now() + timeout : 0
    const req = this.newRequest(topic, body, options)
    const limit = options.replyBuffer ?? this.replyBuffer
    const inbox = new Inbox(req.correlation, limit)
    this.pending.set(req.token, inbox)
    const onAbort = () => inbox.notify()
    signal?.addEventListener('abort', onAbort)
    let cancel = true // unless it ends well, or the handler ended it
    try {
      const left = () => deadline ? secondsLeft(deadline) : 0
      await this.publishRequest(req, { expiry: left(), stream: tag('d', 0, left()) })
      // The end of the one-entry request stream, as the Go caller sends it.
      this.publishRequest(req, { expiry: left(), stream: tag('c', 1, left(), true), empty: true }).catch(() => {})
      const ahead = new Map() // index -> reply that came before its turn
      let next = 0
      let last = -1
      let highest = -1
      let idleUntil = Date.now() + idle
      for (;;) {
        while (inbox.queue.length > 0) {
          const reply = inbox.queue.shift()
          idleUntil = Date.now() + idle
          const v = reply.headers.__stream
          if (v === undefined) {
            // a reply from a handler that does not stream: an error (a
            // refusal), or a plain reply, taken as a stream of one
            const err = replyError(reply)
            if (err) { cancel = false; throw err }
            if (next !== 0 || highest >= 0) { this.droppedReplies++; continue }
            reply.index = 0
            cancel = false
            yield reply
            return
          }
          const t = parseTag(v)
          if (t === null) { this.droppedReplies++; continue }
          if (t.kind === 's') {
            const err = replyError(reply)
            if (err) { cancel = false; throw err }
            this.droppedReplies++
            continue
          }
          if (t.kind === 'c') {
            if (last >= 0 || t.index < next || t.index <= highest) { this.droppedReplies++; continue }
            last = t.index
          } else {
            const i = t.index
            if (i < next || ahead.has(i) || (last >= 0 && i >= last) || i >= next + STREAM_AHEAD) {
              this.droppedReplies++
              continue
            }
            highest = Math.max(highest, i)
            reply.index = i
            ahead.set(i, reply)
            while (ahead.has(next)) {
              const r = ahead.get(next)
              ahead.delete(next)
              next++
              yield r
            }
          }
          if (last >= 0 && next === last) {
            cancel = false
            return
          }
        }
        if (inbox.dropped > 0) { // a response came with the inbox full: it is lost
          throw new StreamBrokenError(`mqttrpc: a response from ${topic} lost: more than ${limit} came while the loop was busy (see replyBuffer)`)
        }
        if (inbox.closed) { cancel = false; throw inbox.closed }
        if (signal?.aborted) throw signal.reason
        if (deadline && Date.now() >= deadline) {
          throw new TimeoutError(`mqttrpc: stream from ${topic} not done within ${timeout} ms`)
        }
        const now = Date.now()
        if (idleUntil - now <= 0) {
          if (next <= highest || last > next) {
            throw new StreamBrokenError(`mqttrpc: response ${next} lost: none came within ${idle} ms, and later ones did`)
          }
          throw new TimeoutError(`mqttrpc: no response from ${topic} within ${idle} ms (next index ${next})`)
        }
        await inbox.wait(Math.min(idleUntil, deadline || Infinity) - now)
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
      this.pending.delete(req.token)
      if (cancel) this.sendCancel(req)
    }
  }

  /**
   * Asks every service (or those named name, or its instance id) with verb
   * (PING, INFO, STATS or SCHEMA) and gathers the JSON replies that come
   * within timeout ms (default: the client's timeout). The result is an
   * async iterable of replies as they come, and has toArray().
   */
  discover (verb, name, id, { timeout, signal } = {}) {
    let topic = `${this.discoveryPrefix}/${verb}`
    if (name) topic += `/${name}`
    if (name && id) topic += `/${id}`
    return this.gather(topic, undefined, { timeout, signal, decode: true })
  }

  /**
   * Sends body to topic and yields every Reply (or, with decode, its value)
   * that comes within timeout ms, as discovery and scatter-gather do. Error
   * replies are yielded as RpcError objects, not thrown. Past replyBuffer
   * replies waiting for the loop, replies are dropped, and the gather ends
   * with a RepliesDroppedError once the others are yielded.
   */
  gather (topic, body, { timeout, signal, headers, qos, decode = false, replyBuffer } = {}) {
    const client = this
    const ms = timeout ?? this.timeout
    const limit = replyBuffer ?? this.replyBuffer
    const iterate = async function * () {
      signal?.throwIfAborted()
      await client.ready()
      const req = client.newRequest(topic, body, { headers, qos })
      // An instance on MQTT 3.1.1 takes the reply topic from the body.
      if (body === undefined && topic.startsWith(client.discoveryPrefix + '/')) {
        req.payload = JSON.stringify({ reply_to: req.replyTo })
      }
      const inbox = new Inbox(req.correlation, limit)
      client.pending.set(req.token, inbox)
      const deadline = Date.now() + ms
      const onAbort = () => inbox.notify()
      signal?.addEventListener('abort', onAbort)
      try {
        await client.publishRequest(req, { expiry: secondsLeft(deadline) })
        for (;;) {
          while (inbox.queue.length > 0) {
            const reply = inbox.queue.shift()
            const err = replyError(reply)
            yield err || (decode ? reply.value() : reply)
          }
          if (inbox.closed) throw inbox.closed
          signal?.throwIfAborted()
          const now = Date.now()
          if (now >= deadline) {
            if (inbox.dropped > 0) throw new RepliesDroppedError(inbox.dropped, limit)
            return
          }
          await inbox.wait(deadline - now)
        }
      } finally {
        signal?.removeEventListener('abort', onAbort)
        client.pending.delete(req.token)
      }
    }
    return {
      [Symbol.asyncIterator]: iterate,
      async toArray () {
        const all = []
        for await (const r of iterate()) all.push(r)
        return all
      }
    }
  }

  newRequest (topic, body, { headers = {}, qos = 0, contentType } = {}) {
    const token = randomHex(8)
    const { payload, type } = encode(body)
    return {
      topic,
      token,
      replyTo: `${this.inbox}/${token}`,
      correlation: uuid(),
      payload,
      contentType: contentType ?? type,
      headers: { ...headers },
      qos
    }
  }

  /**
   * Sends body to topic and waits for nothing but the broker (at QoS 1 and
   * 2): for an endpoint that never replies (the Go library's NoReply). The
   * message has no Response Topic, so no handler answers it.
   * Options: qos (default 0), headers, contentType.
   */
  async publish (topic, body, { qos = 0, headers = {}, contentType } = {}) {
    const { payload, type } = encode(body)
    const properties = {}
    const ct = contentType ?? type
    if (ct) properties.contentType = ct
    if (Object.keys(headers).length > 0) properties.userProperties = { ...headers }
    await this.mqtt.publishAsync(topic, payload, { qos, properties })
  }

  publishRequest (req, { expiry = 0, stream, empty = false } = {}) {
    const headers = stream ? { ...req.headers, __stream: stream } : req.headers
    const properties = {
      responseTopic: req.replyTo,
      correlationData: req.correlation
    }
    if (!empty && req.contentType) properties.contentType = req.contentType
    if (Object.keys(headers).length > 0) properties.userProperties = headers
    if (expiry > 0) properties.messageExpiryInterval = expiry
    return this.mqtt.publishAsync(req.topic, empty ? '' : req.payload, { qos: req.qos, properties })
  }

  /** Tells the handler of req that its caller gave up; it answers 499. */
  sendCancel (req) {
    if (!this.mqtt.connected) return
    const s = Math.ceil(this.timeout / 1000)
    this.mqtt.publishAsync(req.topic, '', {
      qos: req.qos,
      properties: {
        responseTopic: req.replyTo,
        correlationData: req.correlation,
        userProperties: { __stream: `s:0:${s}`, __stat: String(STATUS_CANCELED), __stMsg: MSG_CANCELED },
        messageExpiryInterval: s
      }
    }).catch(() => {})
  }
}

/** A reply or a streamed response as it came. */
export class Reply {
  constructor (topic, body, contentType, headers, correlationData) {
    this.topic = topic
    this.body = body // Uint8Array
    this.contentType = contentType // '' when none
    this.headers = headers // user properties; a repeated key keeps its last value
    this.correlationData = correlationData // text, or null when none
    this.index = 0 // a streamed response's index
  }

  text () { return fromUtf8.decode(this.body) }
  json () { return JSON.parse(this.text()) }

  /** Parsed JSON, a string for text/*, undefined when empty, else the bytes. */
  value () {
    if (this.contentType === 'application/json' || this.contentType.endsWith('+json')) return this.json()
    if (this.contentType.startsWith('text/')) return this.text()
    if (this.body.length === 0) return undefined
    return this.body
  }
}

function toReply (topic, payload, packet) {
  const p = packet.properties || {}
  const headers = {}
  for (const [k, v] of Object.entries(p.userProperties || {})) {
    headers[k] = Array.isArray(v) ? v[v.length - 1] : String(v)
  }
  const cd = p.correlationData
  const correlation = cd == null ? null : typeof cd === 'string' ? cd : fromUtf8.decode(cd)
  const body = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength)
  return new Reply(topic, body, p.contentType || '', headers, correlation)
}

function replyError (reply) {
  const stat = reply.headers.__stat
  if (stat === undefined) return null
  let code = Number.parseInt(stat, 10)
  if (String(code) !== stat.trim()) code = 500
  if (code >= 200 && code < 300) return null
  return new RpcError(code, reply.headers.__stMsg ?? '', reply)
}

// encode gives a body's payload and Content Type as the Go library does: a
// string as text/plain, bytes as they are, anything else as JSON; nothing as
// an empty payload.
function encode (body) {
  if (body === undefined || body === null) return { payload: '', type: '' }
  if (typeof body === 'string') return { payload: body, type: 'text/plain' }
  if (body instanceof Uint8Array) {
    const B = globalThis.Buffer
    return { payload: B ? B.from(body.buffer, body.byteOffset, body.byteLength) : body, type: '' }
  }
  if (body instanceof ArrayBuffer) return encode(new Uint8Array(body))
  return { payload: JSON.stringify(body), type: 'application/json' }
}

function parseTag (v) {
  const m = /^([dcs]):(\d+)(?::(last))?(?::\d+)?$/.exec(v)
  if (!m) return null
  if ((m[1] === 'c') !== (m[3] === 'last')) return null
  return { kind: m[1], index: Number(m[2]) }
}

function tag (kind, index, seconds, last = false) {
  let v = `${kind}:${index}`
  if (last) v += ':last'
  if (seconds > 0) v += `:${seconds}`
  return v
}

// Inbox holds the replies of a gather, or the responses of a stream, until
// its loop takes them: up to limit; past it, they are dropped and counted,
// as the Go client's inbox does. It is the call's entry in the pending table.
class Inbox {
  constructor (correlation, limit) {
    this.correlation = correlation
    this.limit = limit
    this.queue = []
    this.dropped = 0
    this.closed = null // the error the client ended with
    this.wake = null // ends the wait under way
  }

  deliver (reply) {
    if (this.queue.length >= this.limit) this.dropped++
    else this.queue.push(reply)
    this.notify()
  }

  close (err) {
    this.closed = err
    this.notify()
  }

  /** Ends the wait under way, if any. */
  notify () {
    const w = this.wake
    this.wake = null
    w?.()
  }

  /** Waits ms, or until a reply comes, the client ends, or notify is called. */
  wait (ms) {
    return new Promise(resolve => {
      const timer = setTimeout(() => { this.wake = null; resolve() }, ms)
      this.wake = () => { clearTimeout(timer); resolve() }
    })
  }
}

function secondsLeft (deadline) {
  return Math.max(1, Math.ceil((deadline - Date.now()) / 1000))
}

// getRandomValues, unlike randomUUID, works on pages that are not a secure
// context (a dashboard served over plain http on a plant network).
function randomBytes (n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n))
}

function randomHex (n) {
  return Array.from(randomBytes(n), b => b.toString(16).padStart(2, '0')).join('')
}

function uuid () {
  const b = randomBytes(16)
  b[6] = (b[6] & 0x0f) | 0x40
  b[8] = (b[8] & 0x3f) | 0x80
  const h = Array.from(b, x => x.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
