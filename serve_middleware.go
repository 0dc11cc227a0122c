package mqttrpc

import "slices"

// Middleware wraps a [Handler] to add behaviour around it: checks before,
// logging or metrics after, a different answer instead. Middleware listed
// first runs outermost.
//
// The Broker builds each subscriber's chain once, at [Broker.Subscriber],
// from the outside in: the Broker's [Hook] ([WithHook]), the measurements
// of [WithServedHook] and of a
// [Service] endpoint's statistics (only where either is asked for), panic
// recovery, the payload limit ([MaxPayload]),
// deduplication ([Deduplicate]), the execution timeout ([ExecutionTimeout]),
// the Broker's middleware ([WithMiddleware]), the subscriber's own ([Use], a
// [Group]'s first), and the handler.
type Middleware func(Handler) Handler

// chain wraps h in the subscriber's middleware, as Middleware describes.
func (s *Subscription) chain(h Handler) Handler {
	o := s.opts
	mws := slices.Concat(s.b.cfg.middleware, o.middleware)
	if o.internal {
		mws = o.middleware
	}
	h = answerCancels(h)
	for _, mw := range slices.Backward(mws) {
		h = mw(h)
	}
	if o.timeout > 0 {
		h = executionTimeout(o.timeout)(h)
	}
	if o.dedup > 0 {
		h = deduplicate(o.dedup, func() { s.b.stats.duplicates.Add(1) })(h)
	}
	if o.maxPayload > 0 {
		h = limitPayload(o.maxPayload)(h)
	}
	h = recoverPanics(s.b.log, func() { s.b.stats.panics.Add(1) })(h)
	if !o.internal && (o.endpoint != nil || s.b.cfg.servedHook != nil) {
		h = s.observe(h)
	}
	if !o.internal && s.b.cfg.hook != nil {
		h = s.hooked(h)
	}
	return h
}
