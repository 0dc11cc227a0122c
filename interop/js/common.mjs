// Shared by caller.mjs and responder.mjs: the JSON the Go tests exchange with
// these scripts, and the MQTT.js calls both make. Binary fields (bodies,
// correlation data) travel base64-encoded, as Go's encoding/json writes
// []byte, so that non-UTF-8 bytes survive the trip through argv and stdout.
import mqtt from 'mqtt'

// config reads the one JSON argument the Go test passes.
export function config () {
  if (process.argv.length !== 3) {
    fail('usage: node ' + process.argv[1] + ' CONFIG_JSON')
  }
  const cfg = JSON.parse(process.argv[2])
  // Bound every run, so a lost message ends the script instead of hanging
  // the Go test until its own deadline.
  setTimeout(() => fail('timed out after ' + cfg.timeoutMs + ' ms'), cfg.timeoutMs).unref()
  return cfg
}

export function fail (msg) {
  process.stderr.write('mqttjs: ' + msg + '\n')
  process.exit(2)
}

export function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

export async function connect (cfg) {
  const client = await mqtt.connectAsync(cfg.url, {
    protocolVersion: cfg.version,
    clean: true,
    reconnectPeriod: 0, // a test run wants the first error, not retries
    connectTimeout: cfg.timeoutMs
  })
  // MQTT.js reports a packet it cannot accept (such as an acknowledgement
  // with an invalid reason code) only as an 'error' event, and the call
  // waiting for that packet never ends: say so at once instead.
  client.on('error', err => fail('client error: ' + (err.stack || err)))
  return client
}

// publishOptions turns the test's message spec into MQTT.js publish options.
// Properties are set only when given, so that absent ones stay absent on
// the wire rather than being sent empty.
export function publishOptions (cfg, spec, responseTopic) {
  const opts = { qos: 1 }
  if (cfg.version !== 5) {
    return opts
  }
  const props = {}
  if (responseTopic) props.responseTopic = responseTopic
  if (spec.correlationData != null) props.correlationData = Buffer.from(spec.correlationData, 'base64')
  if (spec.contentType) props.contentType = spec.contentType
  if (spec.userProperties && Object.keys(spec.userProperties).length > 0) {
    props.userProperties = spec.userProperties
  }
  opts.properties = props
  return opts
}

export function body (spec) {
  return spec.body ? Buffer.from(spec.body, 'base64') : Buffer.alloc(0)
}

// describe reports a received message as the Go test reads it.
export function describe (topic, payload, packet) {
  const p = packet.properties || {}
  const userProperties = {}
  for (const [k, v] of Object.entries(p.userProperties || {})) {
    // MQTT.js gives a repeated key as an array; mqttrpc keeps the last value.
    userProperties[k] = Array.isArray(v) ? v[v.length - 1] : v
  }
  return {
    topic,
    body: payload.toString('base64'),
    responseTopic: p.responseTopic || '',
    correlationData: p.correlationData ? Buffer.from(p.correlationData).toString('base64') : null,
    contentType: p.contentType || '',
    userProperties
  }
}
