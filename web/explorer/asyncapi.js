// asyncapi.js: a service's AsyncAPI document, shown and downloaded.
import { h } from './dom.js'

/** The AsyncAPI panel of service s: { element, dispose }. */
export function asyncapiPanel (app, s) {
  return { element: h('section', { class: 'asyncapi' }, h('h3', {}, 'AsyncAPI')) }
}
