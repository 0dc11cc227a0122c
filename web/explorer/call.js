// call.js: calls an endpoint from the page.
import { h } from './dom.js'

/** The call panel of endpoint e of service s: { element, dispose }. */
export function callPanel (app, s, e, schemas) {
  return { element: h('section', { class: 'call' }, h('h3', {}, 'Call')) }
}
