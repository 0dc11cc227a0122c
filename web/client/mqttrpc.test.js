// The client against a real broker and real mqttrpc handlers: the Go program
// in testdata/server (the embedded broker on 127.0.0.1, TCP and WebSocket,
// and a service), built once for the run. Run with `node --test`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import { connect, Client, RpcError, TimeoutError, StreamBrokenError, RepliesDroppedError } from './mqttrpc.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const WAIT = 20000 // generous bound on anything the tests wait for

let dir, server, ready, tcp, ws
const events = [] // what the server reported, in order
const waiters = []

// event resolves with the first server event (past or future) that match accepts.
function event (match, what) {
  const seen = events.find(match)
  if (seen) return Promise.resolve(seen)
  return withTimeout(new Promise(resolve => waiters.push({ match, resolve })), what)
}

function withTimeout (promise, what) {
  let timer
  const bound = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT)
  })
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer))
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mqttrpc-js-'))
  const bin = join(dir, 'server')
  await promisify(execFile)('go', ['build', '-o', bin, './web/client/testdata/server'], { cwd: root })
  server = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise((resolve, reject) => server.once('exit', code => reject(new Error(`server exited: ${code}`))))
  exited.catch(() => {})
  createInterface({ input: server.stdout }).on('line', line => {
    const ev = JSON.parse(line)
    events.push(ev)
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].match(ev)) waiters.splice(i, 1)[0].resolve(ev)
    }
  })
  ready = await Promise.race([event(e => e.event === 'ready', 'the server'), exited])
  tcp = await connect(ready.tcp)
  ws = await connect(ready.ws)
})

after(async () => {
  await tcp?.end()
  await ws?.end()
  if (server && server.exitCode === null) {
    const gone = new Promise(resolve => server.once('exit', resolve))
    server.stdin.end() // it exits when stdin closes
    await withTimeout(gone, 'the server to exit').catch(() => server.kill('SIGKILL'))
  }
  if (dir) await rm(dir, { recursive: true, force: true })
})

for (const [name, client] of [['tcp', () => tcp], ['websocket', () => ws]]) {
  test(`request and reply with JSON over ${name}`, async () => {
    const reply = await client().request('js/echo', { n: 1, s: 'é' }, { headers: { who: 'test' } })
    assert.equal(reply.contentType, 'application/json')
    assert.deepEqual(reply.value(), { n: 1, s: 'é' })
    assert.equal(reply.headers['seen-who'], 'test')
    assert.match(reply.correlationData, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
}

test('text and bytes keep their content types', async () => {
  assert.equal(await tcp.call('js/echo', 'hello'), 'hello')
  const reply = await tcp.request('js/echo', new Uint8Array([0, 255, 7]))
  assert.equal(reply.headers['content-type-seen'], '')
  assert.deepEqual([...reply.value()], [0, 255, 7])
  assert.equal(await tcp.call('js/echo'), undefined)
})

test('concurrent requests each get their own reply', async () => {
  const got = await Promise.all(Array.from({ length: 50 }, (_, i) => ws.call('js/echo', { i })))
  assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => ({ i })))
})

test('an error reply rejects with an RpcError carrying its code', async () => {
  await assert.rejects(tcp.request('js/fail', 'tea'), err => {
    assert.ok(err instanceof RpcError)
    assert.equal(err.code, 418)
    assert.equal(err.statusMessage, 'no coffee: tea')
    return true
  })
})

test('no reply in time rejects with a TimeoutError', async () => {
  const started = Date.now()
  await assert.rejects(tcp.request('js/slow/timeout', null, { timeout: 300 }), TimeoutError)
  assert.ok(Date.now() - started >= 300)
  // The handler's deadline came with the request (Message Expiry Interval).
  const ev = await event(e => e.event === 'ended' && e.topic === 'js/slow/timeout', 'the handler to time out')
  assert.equal(ev.canceled, false)
})

test('aborting a request cancels its handler', async () => {
  const ac = new AbortController()
  const call = ws.request('js/slow/abort', null, { timeout: 10000, signal: ac.signal })
  await event(e => e.event === 'started' && e.topic === 'js/slow/abort', 'the handler to start')
  ac.abort()
  await assert.rejects(call, err => err.name === 'AbortError')
  const ev = await event(e => e.event === 'ended' && e.topic === 'js/slow/abort', 'the handler to be cancelled')
  assert.equal(ev.canceled, true, ev.cause)
})

test('a stream yields its responses in order, then ends', async () => {
  const got = []
  for await (const r of tcp.stream('js/count', 5, { qos: 1 })) {
    got.push([r.index, r.value()])
  }
  assert.deepEqual(got, [0, 1, 2, 3, 4].map(i => [i, { i }]))
})

test('a stream the handler ends with an error throws an RpcError after its responses', async () => {
  const got = []
  await assert.rejects(async () => {
    for await (const r of ws.stream('js/count', -3)) got.push(r.value().i)
  }, err => err instanceof RpcError && err.code === 503)
  assert.deepEqual(got, [0, 1, 2])
})

test('breaking out of a stream cancels its handler', async () => {
  const got = []
  for await (const r of ws.stream('js/ticks/break', null)) {
    got.push(r.value())
    if (got.length === 3) break
  }
  assert.deepEqual(got, [0, 1, 2])
  const ev = await event(e => e.event === 'ended' && e.topic === 'js/ticks/break', 'the stream handler to be cancelled')
  assert.equal(ev.canceled, true, ev.cause)
})

test('aborting a stream cancels its handler', async () => {
  const ac = new AbortController()
  let n = 0
  await assert.rejects(async () => {
    for await (const r of tcp.stream('js/ticks/abort', null, { signal: ac.signal })) {
      assert.equal(r.index, n++)
      if (n === 2) ac.abort()
    }
  }, err => err.name === 'AbortError')
  const ev = await event(e => e.event === 'ended' && e.topic === 'js/ticks/abort', 'the stream handler to be cancelled')
  assert.equal(ev.canceled, true, ev.cause)
})

test('a plain reply to a stream request is refused with 400', async () => {
  await assert.rejects(async () => {
    for await (const r of tcp.stream('js/echo', 'x')) assert.fail(`unexpected ${r.text()}`)
  }, err => err instanceof RpcError && err.code === 400)
})

test('discovery finds the service', async () => {
  const pings = await ws.discover('PING', undefined, undefined, { timeout: 1000 }).toArray()
  assert.ok(pings.some(p => p.name === 'jstest' && p.id === ready.id), JSON.stringify(pings))

  let info
  for await (const i of tcp.discover('INFO', 'jstest', ready.id, { timeout: 1000 })) info = i
  assert.equal(info.version, '1.0.0')
  const names = info.endpoints.map(e => e.name).sort()
  assert.deepEqual(names, ['count', 'echo', 'fail', 'slow', 'ticks'])
  assert.equal(info.endpoints.find(e => e.name === 'count').streaming, true)

  const none = await tcp.discover('PING', 'nosuchservice', undefined, { timeout: 300 }).toArray()
  assert.deepEqual(none, [])
})

test('a Client wraps an MQTT.js client of the caller', async () => {
  const mc = await mqtt.connectAsync(ready.tcp, { protocolVersion: 5 })
  try {
    const c = new Client(mc, { inboxPrefix: 'dash/inbox' })
    await c.ready()
    assert.equal(await c.call('js/echo', 'wrapped'), 'wrapped')
    await c.end()
    assert.ok(mc.connected, 'end() leaves a client it did not make connected')
  } finally {
    await mc.endAsync()
  }
})

// A responder written against the wire with bare MQTT.js: it checks what the
// client sends, and sends responses out of order, a duplicate and a stray.
test('the wire: request properties, reordered responses, c:1:last', async () => {
  const raw = await mqtt.connectAsync(ready.tcp, { protocolVersion: 5 })
  try {
    const seen = []
    const done = new Promise(resolve => {
      raw.on('message', (topic, payload, packet) => {
        const p = packet.properties
        seen.push({ topic, body: payload.toString(), ...p })
        if (p.userProperties.__stream !== 'd:0:30') return
        const props = (stream, extra = {}) => ({
          qos: 1, properties: { correlationData: p.correlationData, userProperties: { __stream: stream }, ...extra }
        })
        const to = p.responseTopic
        Promise.all([
          raw.publishAsync(to, '"two"', props('d:2', { contentType: 'application/json' })),
          raw.publishAsync(to, '', props('c:3:last')),
          raw.publishAsync(to, '"zero"', props('d:0', { contentType: 'application/json' })),
          raw.publishAsync(to, '"stray"', { qos: 1, properties: { correlationData: Buffer.from('not-it'), userProperties: { __stream: 'd:1' } } }),
          raw.publishAsync(to, '"zero again"', props('d:0', { contentType: 'application/json' })),
          raw.publishAsync(to, '"one"', props('d:1', { contentType: 'application/json' }))
        ]).then(resolve)
      })
    })
    await raw.subscribeAsync('raw/stream', { qos: 1 })
    const got = []
    for await (const r of tcp.stream('raw/stream', { go: true }, { timeout: 30000, headers: { a: 'b' } })) {
      got.push([r.index, r.value()])
    }
    await withTimeout(done, 'the responder')
    assert.deepEqual(got, [[0, 'zero'], [1, 'one'], [2, 'two']])

    const [req, end] = seen
    assert.equal(req.body, '{"go":true}')
    assert.equal(req.contentType, 'application/json')
    assert.ok(req.messageExpiryInterval >= 29 && req.messageExpiryInterval <= 30, req.messageExpiryInterval)
    assert.equal(req.userProperties.a, 'b')
    assert.match(req.responseTopic, /^mqttrpc\/inbox\/[0-9a-f]{16}\/[0-9a-f]{16}$/)
    assert.match(end.userProperties.__stream, /^c:1:last:(29|30)$/)
    assert.equal(end.body, '')
    assert.equal(end.responseTopic, req.responseTopic)
    assert.deepEqual(end.correlationData, req.correlationData)
  } finally {
    await raw.endAsync()
  }
})

test('the wire: a cancel names the request', async () => {
  const raw = await mqtt.connectAsync(ready.tcp, { protocolVersion: 5 })
  try {
    const seen = []
    let requested, arrived
    const request = new Promise(resolve => { requested = resolve })
    const cancelled = new Promise(resolve => { arrived = resolve })
    raw.on('message', (topic, payload, packet) => {
      seen.push(packet.properties)
      if (packet.properties.userProperties?.__stat) arrived()
      else requested()
    })
    await raw.subscribeAsync('raw/cancel', { qos: 1 })
    const ac = new AbortController()
    const call = tcp.request('raw/cancel', 'x', { qos: 1, signal: ac.signal, timeout: 10000 })
    await withTimeout(request, 'the request')
    ac.abort()
    await assert.rejects(call, err => err.name === 'AbortError')
    await withTimeout(cancelled, 'the cancel')
    const [req, cancel] = seen
    assert.equal(req.messageExpiryInterval, 10)
    assert.equal(req.contentType, 'text/plain')
    assert.equal(cancel.userProperties.__stat, '499')
    assert.match(cancel.userProperties.__stream, /^s:0(:\d+)?$/)
    assert.ok(cancel.userProperties.__stMsg)
    assert.equal(cancel.responseTopic, req.responseTopic)
    assert.deepEqual(cancel.correlationData, req.correlationData)
  } finally {
    await raw.endAsync()
  }
})

// arrivals resolves once n messages have reached client's inbox: by then
// every one of them has been handed to its gather or stream.
function arrivals (client, n) {
  let seen = 0
  return withTimeout(new Promise(resolve => {
    const count = topic => {
      if (topic.startsWith(client.inbox + '/') && ++seen === n) {
        client.mqtt.removeListener('message', count)
        resolve()
      }
    }
    client.mqtt.on('message', count)
  }), `${n} messages in the inbox`)
}

// responder answers each request on topic with replies, a list of [body,
// userProperties] (null for none: given an empty object, MQTT.js publishes
// nothing at all), and records the properties of what it was sent.
async function responder (topic, replies) {
  const raw = await mqtt.connectAsync(ready.tcp, { protocolVersion: 5 })
  const seen = []
  raw.on('message', (t, payload, packet) => {
    const p = packet.properties
    seen.push(p)
    if (p.userProperties?.__stat) return // a cancel
    for (const [body, userProperties] of replies) {
      const properties = { correlationData: p.correlationData }
      if (userProperties) properties.userProperties = userProperties
      raw.publish(p.responseTopic, body, { qos: 1, properties })
    }
  })
  await raw.subscribeAsync(topic, { qos: 1 })
  return { raw, seen }
}

test('a gather whose loop falls behind drops replies past replyBuffer, and says how many', async () => {
  const { raw } = await responder('raw/burst', Array.from({ length: 10 }, (_, i) => [String(i), null]))
  try {
    const all = arrivals(tcp, 10)
    const got = []
    await assert.rejects(async () => {
      for await (const r of tcp.gather('raw/burst', null, { timeout: 1500, replyBuffer: 3 })) {
        got.push(r.text())
        if (got.length === 1) await all
      }
    }, err => {
      assert.ok(err instanceof RepliesDroppedError, err)
      assert.equal(got.length + err.dropped, 10)
      assert.ok(got.length <= 4, `${got.length} replies held with a buffer of 3`)
      return true
    })
  } finally {
    await raw.endAsync()
  }
})

test('a stream whose loop falls behind past replyBuffer ends broken and cancels', async () => {
  const responses = Array.from({ length: 10 }, (_, i) => [String(i), { __stream: `d:${i}` }])
  responses.push(['', { __stream: 'c:10:last' }])
  const { raw, seen } = await responder('raw/flood', responses)
  try {
    const all = arrivals(tcp, 11)
    const got = []
    await assert.rejects(async () => {
      for await (const r of tcp.stream('raw/flood', null, { replyBuffer: 3 })) {
        got.push(r.index)
        if (got.length === 1) await all
      }
    }, StreamBrokenError)
    assert.ok(got.length < 10, `got ${got}`)
    await withTimeout(new Promise(resolve => {
      const check = () => seen.some(p => p.userProperties?.__stat === '499') ? resolve() : setImmediate(check)
      check()
    }), 'the cancel')
  } finally {
    await raw.endAsync()
  }
})

test('publish sends a message no handler answers: no Response Topic, no Correlation Data', async () => {
  const raw = await mqtt.connectAsync(ready.tcp, { protocolVersion: 5 })
  try {
    const seen = []
    let arrived
    const both = new Promise(resolve => { arrived = resolve })
    raw.on('message', (topic, payload, packet) => {
      seen.push({ topic, body: payload.toString(), qos: packet.qos, ...packet.properties })
      if (seen.length === 2) arrived()
    })
    await raw.subscribeAsync('raw/notify/#', { qos: 2 })
    const dropped = ws.droppedReplies
    await ws.publish('raw/notify/json', { on: true }, { qos: 1, headers: { who: 'page' } })
    await tcp.publish('raw/notify/text', 'hi')
    await withTimeout(both, 'the published messages')
    seen.sort((a, b) => a.topic.localeCompare(b.topic))
    const [json, text] = seen
    assert.equal(json.body, '{"on":true}')
    assert.equal(json.contentType, 'application/json')
    assert.equal(json.qos, 1)
    assert.equal(json.userProperties.who, 'page')
    assert.equal(json.responseTopic, undefined)
    assert.equal(json.correlationData, undefined)
    assert.equal(text.body, 'hi')
    assert.equal(text.contentType, 'text/plain')
    assert.equal(text.qos, 0)
    assert.equal(text.responseTopic, undefined)
    assert.equal(ws.pending.size, 0)
    assert.equal(ws.droppedReplies, dropped)
  } finally {
    await raw.endAsync()
  }
})
