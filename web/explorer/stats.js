// stats.js: a service's load from STATS, plotted.
import { h } from './dom.js'

/** The STATS panel of service s (of its endpoint name, if given): { element, update, dispose }. */
export function statsPanel (app, s, name) {
  return { element: h('section', { class: 'stats' }, h('h3', {}, 'Load')) }
}
