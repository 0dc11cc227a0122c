// responder.mjs answers one request with MQTT.js.
//
// It prints {"event":"ready"} once subscribed, so the Go test knows when to
// send its request, then the request as received, then replies: to the
// request's Response Topic on MQTT 5, or to cfg.replyTopic on MQTT 3.1.1.
// cfg.echoCorrelation chooses whether the reply copies the request's
// Correlation Data, so that a responder which does not can be tested too.
import { config, connect, publishOptions, body, describe, emit, fail } from './common.mjs'

const cfg = config()
try {
  const client = await connect(cfg)
  const request = new Promise(resolve => {
    client.on('message', (topic, payload, packet) => resolve(describe(topic, payload, packet)))
  })
  await client.subscribeAsync(cfg.topic, { qos: 1 })
  emit({ event: 'ready' })
  const req = await request
  emit({ event: 'request', message: req })

  const to = cfg.version === 5 ? req.responseTopic : cfg.replyTopic
  if (!to) fail('request has no Response Topic')
  const spec = { ...cfg.reply }
  if (cfg.echoCorrelation) spec.correlationData = req.correlationData
  await client.publishAsync(to, body(spec), publishOptions(cfg, spec, ''))
  await client.endAsync()
  process.exit(0)
} catch (err) {
  fail(err.stack || String(err))
}
