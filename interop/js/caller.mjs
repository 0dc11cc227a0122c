// caller.mjs sends one request with MQTT.js and prints the reply.
//
// On MQTT 5 the request carries cfg.replyTopic as its Response Topic; on
// MQTT 3.1.1, which has no properties, the reply is expected on cfg.replyTopic
// because the mqttrpc handler is configured to reply there. Either way the
// script subscribes to cfg.replyTopic before publishing, so the reply cannot
// arrive before anyone listens.
import { config, connect, publishOptions, body, describe, emit, fail } from './common.mjs'

const cfg = config()
try {
  const client = await connect(cfg)
  const replied = new Promise(resolve => {
    client.on('message', (topic, payload, packet) => {
      if (topic === cfg.replyTopic) resolve(describe(topic, payload, packet))
    })
  })
  await client.subscribeAsync(cfg.replyTopic, { qos: 1 })
  const responseTopic = cfg.version === 5 ? cfg.replyTopic : ''
  await client.publishAsync(cfg.topic, body(cfg.msg), publishOptions(cfg, cfg.msg, responseTopic))
  emit({ event: 'reply', message: await replied })
  await client.endAsync()
  process.exit(0)
} catch (err) {
  fail(err.stack || String(err))
}
