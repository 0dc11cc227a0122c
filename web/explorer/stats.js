// stats.js: a service's load from STATS, plotted. While a view of the
// service is open, the page asks its instances for STATS every discovery
// period and keeps the last 10 minutes of what they said. STATS are
// counters since an instance started (or was Reset): the plots are made of
// the differences between an instance's consecutive samples, summed over
// the instances. A counter that went down means the instance restarted or
// was Reset: its differences start over from that sample, so no rate is
// ever negative.
import { h, fill, clip, ms } from './dom.js'
import { stats as validStats } from './validate.js'
import { timePlot, num } from './plot.js'

const HISTORY = 10 * 60 * 1000 // what the page keeps, ms
const MIN_SPAN = 60 * 1000 // the plots show at least this much time
const COLORS = ['#1f6feb', '#e8590c', '#1a7f37', '#cf222e', '#8250df', '#0598bc', '#bf3989', '#9a6700', '#57606a', '#2da44e']

/** What the page sampled of one service, shared by its views while it keeps it. */
class History extends EventTarget {
  constructor (name) {
    super()
    this.name = name
    this.since = 0 // Date.now() of the first sample
    this.instances = new Map() // id -> { id, at, started, endpoints: Map name -> counters }
    this.points = [] // { t, gap, endpoints: Map name -> { requests, errors, refused, processingNs, rate, errorRate, refusedRate } }
    this.last = null // the last round: { t, answered, period }
    this.watchers = 0
    this.running = false
    this.wake = null
    this.used = Date.now()
  }

  watch (app) {
    this.watchers++
    this.used = Date.now()
    if (!this.running) this.run(app)
    return () => {
      this.watchers--
      this.used = Date.now()
      if (this.watchers === 0) this.wake?.()
    }
  }

  async run (app) {
    this.running = true
    let rounds = 0
    try {
      while (this.watchers > 0) {
        const fleet = app.fleet
        const started = Date.now()
        const period = fleet?.refresh ?? 5000
        let next = 1000 // not connected: look again soon
        if (fleet && app.connected) {
          await this.round(app, fleet, period)
          rounds++
          // The first rate needs two samples: take the second one soon.
          next = rounds === 1 && this.points.length === 0 ? Math.min(period, 2000) : period
        }
        const wait = Math.max(200, next - (Date.now() - started))
        if (this.watchers > 0) await new Promise(resolve => { this.wake = resolve; setTimeout(resolve, wait) })
        this.wake = null
      }
    } finally {
      this.running = false
    }
  }

  async round (app, fleet, period) {
    const t = Date.now()
    const replies = []
    const seen = new Set()
    try {
      for await (const r of fleet.ask('STATS', this.name)) {
        let v
        try {
          v = validStats(r.value, r.from)
        } catch (err) {
          app.message('warning', err.message)
          continue
        }
        if (v.name !== this.name || seen.has(v.id)) continue
        seen.add(v.id)
        replies.push({ v, at: Date.now(), started: typeof r.value.started === 'string' ? r.value.started : '' })
      }
    } catch (err) {
      app.message('warning', `STATS of ${this.name}: ${err.message}`)
    }
    if (fleet !== app.fleet) return // reconnected meanwhile: the next round counts
    this.record(t, replies, period)
    this.dispatchEvent(new Event('change'))
  }

  /** Adds a round's replies: a point of summed differences, and each instance's counters. */
  record (t, replies, period) {
    if (!this.since) this.since = t
    const sums = new Map()
    for (const { v, at, started } of replies) {
      const prev = this.instances.get(v.id)
      const restarted = prev && started && prev.started && started !== prev.started
      const endpoints = new Map()
      for (const e of v.endpoints) {
        const p = restarted ? null : prev?.endpoints.get(e.name)
        const wentDown = p && (e.requests < p.requests || e.errors < p.errors || e.refused < p.refused || e.processingNs < p.processingNs)
        const base = wentDown ? null : p
        const changed = e.lastError && (!base || e.errors > base.errors || e.lastError !== base.lastError)
        endpoints.set(e.name, { ...e, lastErrorAt: changed ? at : base?.lastErrorAt ?? 0 })
        if (!base) continue
        const dt = (at - prev.at) / 1000
        if (!(dt > 0)) continue
        const d = sums.get(e.name) ?? { requests: 0, errors: 0, refused: 0, processingNs: 0, rate: 0, errorRate: 0, refusedRate: 0 }
        const dr = e.requests - base.requests
        const de = e.errors - base.errors
        const df = e.refused - base.refused
        d.requests += dr
        d.errors += de
        d.refused += df
        d.processingNs += e.processingNs - base.processingNs
        d.rate += dr / dt
        d.errorRate += de / dt
        d.refusedRate += df / dt
        sums.set(e.name, d)
      }
      this.instances.set(v.id, { id: v.id, at, started, endpoints })
    }
    const before = this.points.at(-1)
    const lastT = this.last?.t
    if (sums.size > 0) {
      // Not joined to the point before when rounds were missed (the page
      // was disconnected, or showed another service).
      const gap = !before || lastT === undefined || t - lastT > 2.5 * period + 2000 || before.t !== lastT
      this.points.push({ t, gap, endpoints: sums })
    }
    this.last = { t, answered: replies.length, period }
    const old = t - HISTORY
    while (this.points.length > 0 && this.points[0].t < old) this.points.shift()
    for (const [id, inst] of this.instances) if (inst.at < old) this.instances.delete(id)
  }

  /** The instances that answered the last round or the one before. */
  current () {
    if (!this.last) return []
    const after = this.last.t - 2.5 * this.last.period - 2000
    return [...this.instances.values()].filter(i => i.at >= after)
  }
}

const histories = new Map() // service name -> History

function historyOf (name) {
  // Forget the services nobody looked at for the time the page keeps.
  for (const [n, hist] of histories) {
    if (hist.watchers === 0 && Date.now() - hist.used > HISTORY) histories.delete(n)
  }
  let hist = histories.get(name)
  if (!hist) {
    hist = new History(name)
    histories.set(name, hist)
  }
  return hist
}

/** A latency in ms as people read it, down to microseconds. */
function latency (v) {
  if (Number.isFinite(v) && v < 0.1) return `${trimmed((v * 1000).toFixed(v < 0.01 ? 1 : 0))} µs`
  return ms(v)
}

function trimmed (s) {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s
}

function clock (t) {
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

function span (ms) {
  const s = Math.round(ms / 1000)
  return s < 90 ? `${s} s` : `${Math.round(s / 60)} min`
}

/** The STATS panel of service s (of its endpoint only, if given): { element, update, dispose }. */
export function statsPanel (app, s, only) {
  const hist = historyOf(s.name)
  const status = h('p', { class: 'stats-status' })
  const plots = h('div', { class: 'plots' })
  const totals = h('tbody')
  const foot = h('tfoot')
  const element = h('section', { class: 'stats', 'data-service': s.name, 'data-endpoint': only },
    h('h3', {}, only ? 'Load of this endpoint' : 'Load'),
    h('p', { class: 'note' },
      'From the instances\u2019 STATS, summed over them. The page keeps history only from when it was opened ' +
      '(while a view of this service is open), for up to 10 minutes.'),
    status,
    plots,
    h('h4', {}, 'Totals since the instances started'),
    h('table', { class: 'totals' },
      h('thead', {}, h('tr', {},
        h('th', {}, 'endpoint'), h('th', { class: 'n' }, 'requests'), h('th', { class: 'n' }, 'errors'),
        h('th', { class: 'n' }, 'refused'), h('th', { class: 'n' }, 'mean latency'), h('th', {}, 'last error'))),
      totals, foot))

  /** The endpoints shown, in the service's order, each with its color. */
  function endpoints () {
    const described = (app.fleet?.services.get(s.name) ?? s).described()?.endpoints.map(e => e.name) ?? []
    const names = [...described]
    for (const inst of hist.instances.values()) {
      for (const n of inst.endpoints.keys()) if (!names.includes(n)) names.push(n)
    }
    const all = names.map((name, i) => ({ name, color: COLORS[i % COLORS.length] }))
    return only ? all.filter(e => e.name === only) : all
  }

  function drawStatus () {
    const period = app.fleet?.refresh ?? 5000
    const parts = []
    if (!hist.last) parts.push('asking the instances for STATS…')
    else {
      const n = hist.last.answered
      parts.push(n === 0
        ? 'no instance answered STATS in the last round'
        : `${n} instance${n === 1 ? '' : 's'} answered STATS ${span(Date.now() - hist.last.t)} ago`)
    }
    parts.push(`sampled every ${span(period)}`)
    if (hist.since) parts.push(`history since ${clock(hist.since)}`)
    if (!app.connected) parts.push('not connected: sampling resumes when the page is')
    status.dataset.state = !hist.last ? 'asking' : hist.last.answered === 0 ? 'none' : 'ok'
    status.textContent = parts.join(' · ')
  }

  // The age under the pointer over any plot: all three show their values
  // there. plots stays while the plots in it are redrawn, so it is what
  // hears the pointer leave.
  let pointerAge = null
  const showReadouts = () => {
    for (const p of plots.querySelectorAll('svg.plot')) p.readout.show(pointerAge)
  }
  const follow = age => {
    if (age === pointerAge) return
    pointerAge = age
    showReadouts()
  }
  plots.addEventListener('pointermove', ev => follow(ev.target.closest('svg.plot')?.readout.ageAt(ev) ?? null))
  plots.addEventListener('pointerleave', () => follow(null))

  function drawPlots () {
    const eps = endpoints()
    const now = Date.now()
    const first = hist.points[0]?.t ?? now
    const from = now - Math.min(HISTORY, Math.max(MIN_SPAN, now - first + 1000))
    const window = span(now - from)
    const waiting = hist.points.length === 0
    const last = hist.points.at(-1)
    const stale = !last || now - last.t > 2.5 * (app.fleet?.refresh ?? 5000) + 3000
    const value = (p, e, f) => {
      const d = p.endpoints.get(e.name)
      return d ? f(d) : NaN
    }
    const seriesOf = (e, f, extra = {}) => ({
      title: e.name,
      color: e.color,
      ...extra,
      points: hist.points.map(p => ({ t: p.t, gap: p.gap, v: value(p, e, f) }))
    })
    const lastOf = (e, f) => (!last || stale) ? NaN : value(last, e, f)
    const active = f => eps.filter(e => hist.points.some(p => value(p, e, f) > 0))
    const attrs = metric => ({ class: 'plot', 'data-metric': metric, 'data-endpoint': only, 'aria-label': `${metric} of ${only ?? s.name}` })
    const sum = f => eps.reduce((a, e) => { const v = lastOf(e, f); return Number.isFinite(v) ? (Number.isFinite(a) ? a : 0) + v : a }, NaN)
    const pending = !waiting ? null : !app.connected ? 'not connected to the broker' : hist.last ? 'waiting for a second STATS sample' : 'asking for STATS…'

    // Requests per second.
    const rate = d => d.rate
    const rateNow = sum(rate)
    const rateCard = card('Requests', 'rate', Number.isFinite(rateNow) ? `${num(rateNow)} req/s` : '–', rateNow,
      timePlot({ from, to: now, unit: 'req/s', series: eps.map(e => seriesOf(e, rate)), empty: pending ?? `no requests in the last ${window}` }, attrs('rate')),
      legend(eps, active(rate), e => `${num(lastOf(e, rate))} req/s`, only))

    // Errors and refusals per second.
    const err = d => d.errorRate
    const ref = d => d.refusedRate
    const refusing = active(ref)
    const errNow = sum(err)
    const refNow = sum(ref)
    const errorSeries = [...eps.map(e => seriesOf(e, err))]
    for (const e of refusing) errorSeries.push(seriesOf(e, ref, { title: `${e.name} refused`, dash: '4 3' }))
    const errorsActive = eps.filter(e => refusing.includes(e) || active(err).includes(e))
    const errorsCard = card('Errors', 'errors', Number.isFinite(errNow) ? `${num(errNow)} errors/s · ${num(refNow)} refused/s` : '–', errNow,
      timePlot({ from, to: now, unit: '/s', series: errorSeries, empty: pending ?? `no errors or refusals in the last ${window}` }, attrs('errors')),
      legend(eps, errorsActive, e => `${num(lastOf(e, err))} err/s` + (refusing.includes(e) ? `, ${num(lastOf(e, ref))} refused/s` : ''), only,
        refusing.length > 0 ? 'dashed: refused (overloaded, shutting down or expired)' : null))

    // Mean latency: processing time over requests, of the last interval.
    const lat = d => d.requests > 0 ? d.processingNs / d.requests / 1e6 : NaN
    let latNow = NaN
    if (last && !stale) {
      let n = 0
      let ns = 0
      for (const e of eps) {
        const d = last.endpoints.get(e.name)
        if (d) { n += d.requests; ns += d.processingNs }
      }
      if (n > 0) latNow = ns / n / 1e6
    }
    // Handlers that answer in microseconds are plotted in µs.
    const latMax = Math.max(0, ...hist.points.flatMap(p => eps.map(e => value(p, e, lat))).filter(Number.isFinite))
    const micro = latMax > 0 && latMax < 0.1
    const latPlotted = micro ? d => lat(d) * 1000 : lat
    const latencyCard = card('Mean latency', 'latency', Number.isFinite(latNow) ? latency(latNow) : waiting ? '–' : 'no requests', latNow,
      timePlot({ from, to: now, unit: micro ? 'µs' : 'ms', series: eps.map(e => seriesOf(e, latPlotted)), empty: pending ?? `no requests to time in the last ${window}` },
        { ...attrs('latency'), 'data-unit': micro ? 'µs' : 'ms' }),
      legend(eps, active(lat), e => latency(lastOf(e, lat)), only, 'processing time per request, in the handler'))

    fill(plots, rateCard, errorsCard, latencyCard)
    showReadouts()
  }

  function drawTotals () {
    const eps = endpoints()
    const instances = hist.current()
    if (instances.length === 0) {
      fill(totals, h('tr', {}, h('td', { colspan: 6, class: 'none' },
        hist.last ? 'no instance answered STATS' : 'asking the instances for STATS…')))
      fill(foot)
      return
    }
    const all = { requests: 0, errors: 0, refused: 0, processingNs: 0 }
    const rows = eps.map(e => {
      const t = { requests: 0, errors: 0, refused: 0, processingNs: 0, lastError: '', lastErrorAt: -1, from: '' }
      for (const inst of instances) {
        const c = inst.endpoints.get(e.name)
        if (!c) continue
        for (const k of ['requests', 'errors', 'refused', 'processingNs']) { t[k] += c[k]; all[k] += c[k] }
        if (c.lastError && c.lastErrorAt > t.lastErrorAt) {
          t.lastError = c.lastError
          t.lastErrorAt = c.lastErrorAt
          t.from = inst.id
        }
      }
      return row(e, t)
    })
    fill(totals, rows)
    if (!only && eps.length > 1) {
      fill(foot, h('tr', { class: 'total' },
        h('th', {}, `all ${eps.length} endpoints, ${instances.length} instance${instances.length === 1 ? '' : 's'}`),
        h('td', { class: 'n', 'data-stat': 'requests', 'data-total': '' }, String(all.requests)),
        h('td', { class: 'n', 'data-stat': 'errors', 'data-total': '' }, String(all.errors)),
        h('td', { class: 'n', 'data-stat': 'refused', 'data-total': '' }, String(all.refused)),
        h('td', { class: 'n', 'data-stat': 'latency', 'data-total': '' }, all.requests > 0 ? latency(all.processingNs / all.requests / 1e6) : '–'),
        h('td', {})))
    } else fill(foot)
  }

  function row (e, t) {
    const cell = (stat, text, cls = 'n') => h('td', { class: cls, 'data-stat': stat, 'data-endpoint': e.name }, text)
    return h('tr', { 'data-endpoint': e.name },
      h('th', {}, h('span', { class: 'swatch', style: `background:${e.color}` }), e.name),
      cell('requests', String(t.requests)),
      cell('errors', String(t.errors), t.errors > 0 ? 'n bad' : 'n'),
      cell('refused', String(t.refused), t.refused > 0 ? 'n bad' : 'n'),
      cell('latency', t.requests > 0 ? latency(t.processingNs / t.requests / 1e6) : '–'),
      h('td', { class: 'last-error', 'data-stat': 'last-error', 'data-endpoint': e.name, title: t.from ? `from instance ${t.from}` : null },
        t.lastError ? clip(t.lastError, 300) : '–'))
  }

  function draw () {
    drawStatus()
    drawPlots()
  }
  const changed = () => {
    draw()
    drawTotals()
  }
  hist.addEventListener('change', changed)
  const unwatch = hist.watch(app)
  changed()

  return {
    element,
    update: draw, // every second: the time axis moves on
    dispose () {
      hist.removeEventListener('change', changed)
      unwatch()
    }
  }
}

/** A plot with its title and current value beside it. */
function card (title, metric, nowText, nowValue, plot, legendEl) {
  return h('div', { class: 'plot-card', 'data-metric': metric },
    h('div', { class: 'plot-head' },
      h('h4', {}, title),
      h('span', { class: 'now', 'data-current': metric, 'data-value': Number.isFinite(nowValue) ? String(nowValue) : '' }, nowText)),
    h('div', { class: 'plot-body' }, plot, legendEl))
}

/** Which endpoint is which line, with its current value; idle endpoints only counted. */
function legend (eps, active, valueText, only, note) {
  const shown = only ? eps : eps.filter(e => active.includes(e))
  const idle = eps.length - shown.length
  return h('ul', { class: 'legend' },
    shown.map(e => h('li', { 'data-endpoint': e.name },
      h('span', { class: 'swatch', style: `background:${e.color}` }),
      h('span', { class: 'name' }, e.name),
      h('span', { class: 'value' }, valueText(e)))),
    idle > 0 ? h('li', { class: 'idle' }, shown.length === 0 ? `${idle} endpoint${idle === 1 ? '' : 's'}, all idle` : `${idle} more, idle`) : null,
    note ? h('li', { class: 'note' }, note) : null)
}
