// fleet.js: what runs, as discovery tells it. The first round asks INFO of
// every service, so the page lists endpoints as soon as the replies come;
// later rounds PING, ask INFO only of instances not seen before, and mark
// an instance that stops answering. SCHEMA (the endpoints' JSON Schemas) is
// asked of one instance per service and version, when the page needs it.
import * as valid from './validate.js'

const REMOVE_AFTER = 60 // rounds an instance may miss before it is dropped

/** A service: its versions (INFO as described) and its instances. */
class Service {
  constructor (name) {
    this.name = name
    this.versions = new Map() // version -> { description, endpoints, raw, schemas: Promise|null }
    this.instances = new Map() // id -> { id, version, metadata, seen, alive, missed, rtt }
  }

  /** The newest description: of the version most instances run. */
  described () {
    let best = null
    let most = -1
    for (const [version, d] of this.versions) {
      const n = [...this.instances.values()].filter(i => i.version === version && i.alive).length
      if (n > most) { best = d; most = n }
    }
    return best
  }

  /** True when every instance that answers speaks MQTT 3.1.1. */
  get v311 () {
    const alive = [...this.instances.values()].filter(i => i.alive)
    return alive.length > 0 && alive.every(i => i.v311)
  }

  get alive () {
    return [...this.instances.values()].some(i => i.alive)
  }
}

/**
 * Fleet keeps the services that answer discovery on client (an mqttrpc.js
 * Client) up to date, every refresh ms, and dispatches 'change' after each
 * update and 'problem' (detail: an Error) for a reply it had to ignore.
 */
export class Fleet extends EventTarget {
  constructor (client, { refresh = 5000, window = 1500 } = {}) {
    super()
    this.client = client
    this.refresh = refresh
    this.window = window // how long a round waits for replies, ms
    this.services = new Map() // name -> Service
    this.rounds = 0
    this.lastRound = 0 // Date.now() when the last round ended
    this.stopped = false
    this.reported = new Set() // problems already reported, by text
  }

  /** Runs rounds until stop(); a round that fails is reported, not fatal. */
  async run () {
    while (!this.stopped) {
      if (!this.client.mqtt.connected) {
        await this.untilConnected()
        continue
      }
      const started = Date.now()
      try {
        await this.round()
      } catch (err) {
        this.problem(err)
      }
      const wait = Math.max(0, this.refresh - (Date.now() - started))
      await new Promise(resolve => { this.wake = resolve; setTimeout(resolve, wait) })
    }
  }

  /** Resolves when the client (re)connects, or stop() is called. */
  untilConnected () {
    return new Promise(resolve => {
      const done = () => {
        this.client.mqtt.removeListener('connect', done)
        resolve()
      }
      this.client.mqtt.on('connect', done)
      this.wake = done
    })
  }

  stop () {
    this.stopped = true
    this.wake?.()
  }

  /** Starts the next round now (the Refresh button). */
  refreshNow () { this.wake?.() }

  async round () {
    const first = this.rounds === 0
    const seen = new Set()
    const newcomers = []
    // The first round's INFO replies are larger and come from every
    // instance at once: give a big fleet on a slow link twice the time.
    const replies = first ? this.ask('INFO', '', '', 2 * this.window) : this.ask('PING')
    for await (const r of replies) {
      let v
      try {
        v = first ? valid.info(r.value, r.from) : valid.ping(r.value, r.from)
      } catch (err) {
        this.problem(err)
        continue
      }
      const fresh = this.saw(v, Date.now() - r.sent, r.v311)
      seen.add(`${v.name}\u0000${v.id}`)
      if (first) this.describe(v)
      else if (fresh) newcomers.push(v)
      this.changed()
    }
    await Promise.all(newcomers.map(v => this.askInfo(v)))
    this.rounds++
    this.lastRound = Date.now()
    this.markMissing(seen)
    this.changed()
  }

  /**
   * Yields { value, from, sent } for each reply to verb that is JSON and
   * comes within window ms; the others are reported as problems.
   */
  async * ask (verb, name, id, window = this.window) {
    const sent = Date.now()
    let topic = `${this.client.discoveryPrefix}/${verb}`
    if (name) topic += `/${name}`
    if (name && id) topic += `/${id}`
    for await (const reply of this.client.gather(topic, undefined, { timeout: window })) {
      if (reply instanceof Error) {
        this.problem(new Error(`${verb}: ${reply.message}`))
        continue
      }
      let value
      try {
        value = JSON.parse(reply.text())
      } catch {
        this.problem(new valid.InvalidReply(verb, `not JSON (${reply.body.length} bytes)`))
        continue
      }
      // An instance on MQTT 3.1.1 answers to the reply_to of the body,
      // with no properties: its reply has no Correlation Data.
      const v311 = reply.correlationData === null
      yield { value, from: typeof value?.name === 'string' ? `${value.name}/${value.id}` : reply.topic, sent, v311 }
    }
  }

  /**
   * Records an instance that answered, and whether it speaks MQTT 3.1.1;
   * true if it is new (or restarted with another version).
   */
  saw (v, rtt, v311) {
    let s = this.services.get(v.name)
    if (!s) {
      s = new Service(v.name)
      this.services.set(v.name, s)
    }
    const known = s.instances.get(v.id)
    const fresh = !known || known.version !== v.version
    s.instances.set(v.id, { id: v.id, version: v.version, metadata: v.metadata, seen: Date.now(), alive: true, missed: 0, rtt, v311 })
    return fresh && !s.versions.has(v.version)
  }

  describe (v) {
    const s = this.services.get(v.name)
    if (!s || s.versions.has(v.version)) return
    s.versions.set(v.version, { version: v.version, description: v.description, endpoints: v.endpoints, raw: v.raw, schemas: null })
  }

  async askInfo (v) {
    for await (const r of this.ask('INFO', v.name, v.id)) {
      try {
        this.describe(valid.info(r.value, r.from))
      } catch (err) {
        this.problem(err)
      }
    }
  }

  markMissing (seen) {
    for (const s of this.services.values()) {
      for (const [id, inst] of s.instances) {
        if (seen.has(`${s.name}\u0000${id}`)) continue
        inst.alive = false
        inst.missed++
        if (inst.missed > REMOVE_AFTER) s.instances.delete(id)
      }
      if (s.instances.size === 0) this.services.delete(s.name)
    }
  }

  /**
   * The SCHEMA reply of one instance of service name at version: the INFO
   * with the endpoints' JSON Schemas, asked once and kept. Resolves to the
   * validated reply, or null when no instance answered.
   */
  schemas (name, version) {
    const s = this.services.get(name)
    const d = s?.versions.get(version)
    if (!d) return Promise.resolve(null)
    if (!d.schemas) {
      const inst = [...s.instances.values()].find(i => i.version === version && i.alive)
      d.schemas = this.askSchema(name, inst?.id)
      d.schemas.then(v => { if (!v) d.schemas = null }) // ask again next time
    }
    return d.schemas
  }

  async askSchema (name, id) {
    if (!id) return null
    for await (const r of this.ask('SCHEMA', name, id)) {
      try {
        return valid.info(r.value, r.from, 'SCHEMA')
      } catch (err) {
        this.problem(err)
      }
    }
    return null
  }

  problem (err) {
    if (this.reported.has(err.message)) return
    this.reported.add(err.message)
    this.dispatchEvent(new CustomEvent('problem', { detail: err }))
  }

  changed () {
    this.dispatchEvent(new Event('change'))
  }
}
