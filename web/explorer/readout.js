// readout.js: what a time plot (plot.js) shows under the pointer: a line
// at the nearest sample, a dot on each series there, and a box with the
// sample's age and each series' value. The plots of one panel share a time
// axis, so a panel shows the readout at the same time on all of them.

import { svg } from './dom.js'

const MAX_LINES = 8 // series listed at most, the largest values first

/**
 * Adds a readout to plot, an <svg> made by timePlot with geometry g:
 * { x(t), y(v), left, right, top, bottom (the frame, in the viewBox), from,
 * to, unit, series, format(v) }. Returns { ageAt(ev): the age (to - t) under
 * a pointer event, or null outside the frame; show(age): draws the readout
 * at that age, or removes it for null }. The pointer is followed by the
 * panel, whose element stays while its plots are redrawn: a plot replaced
 * under the pointer never hears it leave.
 */
export function addReadout (plot, g) {
  const layer = svg('g', { class: 'readout', 'pointer-events': 'none' })
  plot.appendChild(layer)
  let times = null // the sample times shown: found once a readout is asked for

  function ageAt (ev) {
    const m = plot.getScreenCTM()
    if (!m) return null
    const x = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse()).x
    if (x < g.left || x > g.right) return null
    return g.to - (g.from + ((x - g.left) / (g.right - g.left)) * (g.to - g.from))
  }

  function show (age) {
    layer.replaceChildren()
    if (age === null) return
    times ??= [...new Set(g.series.flatMap(s => s.points.filter(p => Number.isFinite(p.v) && p.t >= g.from).map(p => p.t)))]
    const t = nearest(times, g.to - age)
    if (t === undefined) return
    const x = g.x(t)
    const values = []
    for (const s of g.series) {
      const p = s.points.find(p => p.t === t)
      if (p && Number.isFinite(p.v)) values.push({ s, v: p.v })
    }
    layer.appendChild(svg('line', { class: 'cursor', x1: x, x2: x, y1: g.top, y2: g.bottom }))
    for (const { s, v } of values) layer.appendChild(svg('circle', { cx: x, cy: g.y(v), r: 3, fill: s.color }))
    values.sort((a, b) => b.v - a.v)
    const lines = [{ text: ago(g.to - t), head: true }]
    for (const { s, v } of values.slice(0, MAX_LINES)) lines.push({ text: `${s.title}: ${g.format(v)} ${g.unit}`, color: s.color })
    if (values.length > MAX_LINES) lines.push({ text: `and ${values.length - MAX_LINES} more` })
    if (values.length === 0) lines.push({ text: 'no value' })
    const b = box(lines)
    layer.appendChild(b)
    place(b, x, g) // once in the page: it is measured
  }

  return { ageAt, show }
}

/** The time in times nearest to t, or undefined if there is none. */
function nearest (times, t) {
  let best
  for (const u of times) if (best === undefined || Math.abs(u - t) < Math.abs(best - t)) best = u
  return best
}

function ago (a) {
  const s = Math.round(a / 1000)
  return s === 0 ? 'now' : s < 60 ? `${s} s ago` : `${Math.floor(s / 60)} min ${s % 60} s ago`
}

const LINE = 14 // px between lines, in the viewBox

/** The readout's box, a line of text each. */
function box (lines) {
  return svg('g', { class: 'readout-box' },
    svg('rect', { rx: 3 }),
    svg('text', {}, lines.map((l, i) => svg('tspan', { x: 6, dy: i === 0 ? LINE - 2 : LINE, class: l.head ? 'head' : null },
      l.color ? svg('tspan', { fill: l.color }, '■ ') : null, l.text))))
}

/** Sizes the box to its text and puts it beside the cursor at x, on whichever side has room. */
function place (group, x, g) {
  const [rect, text] = group.children
  const b = text.getBBox()
  const w = b.width + 12
  const left = x + 8 + w <= g.right ? x + 8 : Math.max(g.left, x - 8 - w)
  group.setAttribute('transform', `translate(${left.toFixed(1)} ${g.top + 2})`)
  rect.setAttribute('width', w.toFixed(1))
  rect.setAttribute('height', (b.height + 8).toFixed(1))
}
