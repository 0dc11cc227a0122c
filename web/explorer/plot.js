// plot.js: a line plot over time, drawn as SVG by hand (no library). Used by
// the load panel (stats.js): x is time ago, y a value with its unit.

import { svg } from './dom.js'
import { addReadout } from './readout.js'

/** The smallest of 1, 2, 2.5, 5 times a power of ten that is at least v. */
function nice (v) {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * 0.9999) return m * p
  return 10 * p
}

/** A number as short text: 1234, 12.3, 0.42, 0.005. */
export function num (v) {
  if (!Number.isFinite(v)) return '–'
  const a = Math.abs(v)
  if (a === 0) return '0'
  if (a >= 1000) return `${(v / 1000).toFixed(a >= 10000 ? 0 : 1)}k`
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return trim(v.toFixed(1))
  if (a >= 0.1) return trim(v.toFixed(2))
  return trim(v.toPrecision(2))
}

function trim (s) {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s
}

/** "now", "30 s", "2 min", "1.5 min" for an age in ms. */
function age (t) {
  const s = Math.round(t / 1000)
  if (s === 0) return 'now'
  if (s < 60) return `${s} s ago`
  return `${trim((s / 60).toFixed(1))} min ago`
}

const TIME_STEPS = [5, 10, 15, 30, 60, 120, 180, 300].map(s => s * 1000)

/**
 * A plot of series against time: { width, height, from, to (Date.now()
 * times), unit (the text after a value), series: [{ color, dash, title,
 * points: [{ t, v, gap }] }] (gap: not joined to the point before),
 * empty (a text shown over the plot when no value is above zero) }, and any
 * attributes for the <svg> (class, data-*) in attrs. The <svg> it returns
 * has a readout (readout.js): plot.readout.ageAt(pointerEvent) and
 * plot.readout.show(age).
 */
export function timePlot ({ width = 640, height = 150, from, to, unit, series, empty }, attrs = {}) {
  const m = { left: 70, right: 10, top: 10, bottom: 22 }
  const w = width - m.left - m.right
  const ht = height - m.top - m.bottom
  let max = 0
  let min = Infinity
  for (const s of series) {
    for (const p of s.points) {
      if (!Number.isFinite(p.v) || p.t < from) continue
      if (p.v > max) max = p.v
      if (p.v < min) min = p.v
    }
  }
  const step = nice((max || 1) / 4)
  const top = Math.max(step, Math.ceil(max / step - 1e-9) * step)
  const x = t => m.left + ((t - from) / Math.max(1, to - from)) * w
  const y = v => m.top + ht - (v / top) * ht

  const grid = []
  for (let v = 0; v <= top + step / 2; v += step) {
    grid.push(svg('line', { class: 'grid', x1: m.left, x2: m.left + w, y1: y(v), y2: y(v) }))
    grid.push(svg('text', { class: 'tick y', x: m.left - 6, y: y(v), 'text-anchor': 'end', 'dominant-baseline': 'middle' }, `${num(v)} ${unit}`))
  }
  const span = to - from
  const tstep = TIME_STEPS.find(s => span / s <= 6) ?? 600000
  for (let a = 0; a <= span + 1; a += tstep) {
    const t = to - a
    grid.push(svg('line', { class: 'grid time', x1: x(t), x2: x(t), y1: m.top, y2: m.top + ht }))
    if (x(t) - m.left > 24) {
      grid.push(svg('text', { class: 'tick x', x: x(t), y: height - 6, 'text-anchor': a === 0 ? 'end' : 'middle' }, age(a)))
    }
  }

  const lines = series.map(s => {
    let d = ''
    let open = false
    const dots = []
    for (const p of s.points) {
      if (!Number.isFinite(p.v) || p.t < from) { open = false; continue }
      d += `${open && !p.gap ? 'L' : 'M'}${x(p.t).toFixed(1)} ${y(p.v).toFixed(1)}`
      if (!open || p.gap) dots.push(p) // a point alone would not show as a line
      open = true
    }
    const last = s.points.findLast(p => Number.isFinite(p.v) && p.t >= from)
    return svg('g', { class: 'series', 'data-series': s.title },
      svg('title', {}, s.title),
      d ? svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 1.8, 'stroke-dasharray': s.dash, 'stroke-linejoin': 'round' }) : null,
      dots.map(p => svg('circle', { cx: x(p.t), cy: y(p.v), r: 1.5, fill: s.color })),
      last ? svg('circle', { class: 'last', cx: x(last.t), cy: y(last.v), r: 2.8, fill: s.color }) : null)
  })

  const quiet = max === 0 && empty
  // data-min and data-max: the values shown, for tests and tools.
  const plot = svg('svg', { ...attrs, 'data-min': Number.isFinite(min) ? min : '', 'data-max': Number.isFinite(min) ? max : '', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': attrs['aria-label'] },
    svg('rect', { class: 'frame', x: m.left, y: m.top, width: w, height: ht }),
    grid,
    svg('line', { class: 'axis', x1: m.left, x2: m.left + w, y1: m.top + ht, y2: m.top + ht }),
    lines,
    quiet ? svg('text', { class: 'empty', x: m.left + w / 2, y: m.top + ht / 2, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, empty) : null)
  plot.readout = addReadout(plot, { x, y, left: m.left, right: m.left + w, top: m.top, bottom: m.top + ht, from, to, unit, series, format: num })
  return plot
}
