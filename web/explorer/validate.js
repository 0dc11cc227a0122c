// validate.js: checks that a discovery reply has the shape mqttrpc's schemas
// give it (schemas/*.json in the repository) before the page uses it. A reply
// that does not is reported, once, and left out; the rest of the fleet is
// still shown.

const MAX_TEXT = 4096

/** Thrown for a reply that is not what its verb promises. */
export class InvalidReply extends Error {
  constructor (verb, why, from) {
    super(`${verb} reply${from ? ` from ${from}` : ''} ignored: ${why}`)
    this.name = 'InvalidReply'
  }
}

function text (v, what, { required = true, max = MAX_TEXT } = {}) {
  if (v === undefined || v === null) {
    if (required) throw new Error(`${what} is missing`)
    return ''
  }
  if (typeof v !== 'string') throw new Error(`${what} is not a string`)
  if (v.length > max) throw new Error(`${what} is longer than ${max} characters`)
  return v
}

function strings (v, what) {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} is not an object`)
  const out = {}
  for (const [k, s] of Object.entries(v)) out[text(k, `${what} key`)] = text(s, `${what}.${k}`)
  return out
}

function object (v, what) {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} is not an object`)
  return v
}

function identity (r) {
  object(r, 'the reply')
  const name = text(r.name, 'name', { max: 256 })
  const id = text(r.id, 'id', { max: 256 })
  if (name === '' || id === '') throw new Error('name or id is empty')
  return { name, id, version: text(r.version, 'version', { required: false, max: 256 }), metadata: strings(r.metadata, 'metadata') }
}

function schema (v, what) {
  if (v === undefined || v === null) return null
  if (typeof v !== 'object' && typeof v !== 'boolean') throw new Error(`${what} is not a JSON Schema`)
  return v
}

function endpoint (e, i) {
  object(e, `endpoints[${i}]`)
  const qos = e.qos ?? 0
  if (![0, 1, 2].includes(qos)) throw new Error(`endpoints[${i}].qos is not 0, 1 or 2`)
  return {
    name: text(e.name, `endpoints[${i}].name`, { max: 256 }),
    pattern: text(e.pattern, `endpoints[${i}].pattern`, { max: 1024 }),
    filter: text(e.filter, `endpoints[${i}].filter`, { required: false, max: 1024 }),
    metadata: strings(e.metadata, `endpoints[${i}].metadata`),
    requestSchema: text(e.request_schema, 'request_schema', { required: false }),
    responseSchema: text(e.response_schema, 'response_schema', { required: false }),
    requestContentType: text(e.request_content_type, 'request_content_type', { required: false }),
    responseContentType: text(e.response_content_type, 'response_content_type', { required: false }),
    qos,
    noReply: e.no_reply === true,
    streaming: e.streaming === true,
    shared: text(e.shared, 'shared', { required: false }),
    replyTopic: text(e.reply_topic, 'reply_topic', { required: false, max: 1024 }),
    requestSchemaJSON: schema(e.request_schema_json, `endpoints[${i}].request_schema_json`),
    responseSchemaJSON: schema(e.response_schema_json, `endpoints[${i}].response_schema_json`)
  }
}

/** A PING reply as { name, id, version, metadata }, or throws InvalidReply. */
export function ping (r, from) {
  try {
    return identity(r)
  } catch (err) {
    throw new InvalidReply('PING', err.message, from)
  }
}

/**
 * An INFO or SCHEMA reply as identity + { description, endpoints }, or
 * throws InvalidReply. The raw reply is kept as raw, for the AsyncAPI
 * document, which the server builds from it.
 */
export function info (r, from, verb = 'INFO') {
  try {
    const id = identity(r)
    if (!Array.isArray(r.endpoints)) throw new Error('endpoints is not a list')
    const endpoints = r.endpoints.map(endpoint)
    return { ...id, description: text(r.description, 'description', { required: false }), endpoints, raw: r }
  } catch (err) {
    throw new InvalidReply(verb, err.message, from)
  }
}

function count (v, what) {
  if (v === undefined || v === null) return 0
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${what} is not a count`)
  return v
}

/** A STATS reply as identity + { endpoints: [{ name, requests, errors, refused, processingNs, lastError }] }. */
export function stats (r, from) {
  try {
    const id = identity(r)
    if (!Array.isArray(r.endpoints)) throw new Error('endpoints is not a list')
    const endpoints = r.endpoints.map((e, i) => {
      object(e, `endpoints[${i}]`)
      return {
        name: text(e.name, `endpoints[${i}].name`, { max: 256 }),
        requests: count(e.num_requests, 'num_requests'),
        errors: count(e.num_errors, 'num_errors'),
        refused: count(e.num_refused, 'num_refused'),
        processingNs: count(e.processing_time, 'processing_time'),
        lastError: text(e.last_error, 'last_error', { required: false })
      }
    })
    return { ...id, endpoints }
  } catch (err) {
    throw new InvalidReply('STATS', err.message, from)
  }
}
