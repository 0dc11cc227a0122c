package mqttrpc

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// Subscription is a handler registered with [Broker.Subscriber].
type Subscription struct {
	b       *Broker
	raw     string // the pattern as given
	pattern topic.Pattern
	filter  string          // pattern.Filter
	reply   *topic.Template // the ReplyTopic; nil without one
	handler Handler         // the middleware chain, ending in the handler
	opts    subscribeOptions
	intake  chan struct{} // one token per request taken: running or queued
	running chan struct{} // one token per request running
	streams bool          // the handler streams its responses

	id     int         // MQTT 5 Subscription Identifier; guarded by b.mu
	active atomic.Bool // the broker has acknowledged the subscription
}

// Subscriber subscribes handler h to pattern and returns once the broker has
// acknowledged the subscription; after a reconnect the Broker subscribes
// again by itself. It waits at most until ctx ends, or for the connect
// timeout if ctx has no deadline.
//
// A pattern is an MQTT topic filter whose wildcard levels may be named:
// "devices/{id}/reboot" subscribes to devices/+/reboot and the handler reads
// the id with [Message.Param]; "logs/{rest...}" subscribes to logs/#. '{' and
// '}' are reserved for names. [Shared] makes a shared subscription, which
// several instances of a service split between them.
//
// Every request runs exactly one handler, once. When several patterns match
// a topic, the most specific wins: levels are compared from the first, and
// an exact level beats {name} or +, which beat {name...} or # (so
// "base/{id}/reboot" wins over "base/#" for base/1/reboot). On MQTT 5 the
// Broker tells the copies a broker sends for overlapping subscriptions apart
// by their Subscription Identifiers. MQTT 3.1.1 has none, so there a pattern
// that overlaps another is refused with [ErrFeatureNotSupported].
//
// Requests delivered as retained messages are not run (see [AcceptRetained]):
// a retained command would run again on every reconnect.
func (b *Broker) Subscriber(ctx context.Context, pattern string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	s, err := b.newSubscription(pattern, h, opts)
	if err != nil {
		return nil, opError("subscribe", pattern, err)
	}
	subs, err := b.addSubscription(s)
	if err != nil {
		return nil, opError("subscribe", pattern, err)
	}
	ctx, cancel := withDefaultTimeout(ctx, b.cfg.connectTimeout)
	defer cancel()
	if err := b.awaitReady(ctx); err != nil {
		b.removeSubscription(s)
		if !errors.Is(err, ErrClosed) { // a restore may have subscribed it meanwhile
			b.unsubscribeLater(s.filter)
		}
		return nil, opError("subscribe", pattern, err)
	}
	// Raised subscriptions first: on a broker that sends one copy with the
	// highest identifier, the more specific pattern must already have it.
	errs := b.t.subscribe(ctx, subs)
	if err := errs[len(errs)-1]; err != nil {
		b.removeSubscription(s)
		if !refusedByBroker(err) { // the broker may have taken it
			b.unsubscribeLater(s.filter)
		}
		return nil, opError("subscribe", pattern, err)
	}
	for i, err := range errs[:len(errs)-1] {
		if err != nil {
			b.log.Warn("mqttrpc: renumbering a subscription failed", "filter", subs[i].filter, "err", err)
		}
	}
	s.active.Store(true)
	return s, nil
}

func (b *Broker) newSubscription(pattern string, h Handler, opts []SubscribeOption) (*Subscription, error) {
	o := subscribeOptions{concurrency: 64, queue: 1024}
	for _, opt := range opts {
		o = opt.applySubscribe(o)
	}
	filterPattern := pattern
	if o.shared != nil {
		var err error
		if filterPattern, err = sharedPattern(pattern, *o.shared); err != nil {
			return nil, err
		}
	}
	p, err := topic.ParsePattern(filterPattern)
	if err != nil {
		return nil, failWith(ErrInvalidTopic, err)
	}
	reply, err := validateSubscriber(p, h, o)
	if err != nil {
		return nil, err
	}
	s := &Subscription{
		b:       b,
		raw:     pattern,
		pattern: p,
		filter:  p.Filter,
		reply:   reply,
		opts:    o,
		intake:  make(chan struct{}, o.concurrency+o.queue),
		running: make(chan struct{}, o.concurrency),
		streams: isStreaming(h),
	}
	s.handler = s.chain(h)
	return s, nil
}

// validateSubscriber checks a subscriber's settings and returns its parsed
// reply topic, if it has one.
func validateSubscriber(p topic.Pattern, h Handler, o subscribeOptions) (reply *topic.Template, err error) {
	filter := p.Filter
	if o.replyTopic != "" {
		t, err := topic.ParseTemplate(o.replyTopic, p)
		if err != nil {
			return nil, fail(ErrInvalidTopic, "reply topic %q: %w", o.replyTopic, err)
		}
		if topic.Overlap(filter, t.Filter()) {
			return nil, fail(ErrInvalidTopic, "reply topic %q matches the filter %q: the handler would answer its own replies forever",
				o.replyTopic, filter)
		}
		reply = &t
	}
	return reply, validateLimits(filter, h, o)
}

func validateLimits(filter string, h Handler, o subscribeOptions) error {
	switch {
	case h == nil:
		return fail(ErrInvalidArgument, "nil handler")
	case o.qos > 2:
		return fail(ErrInvalidArgument, "QoS %d", o.qos)
	case o.concurrency < 1:
		return fail(ErrInvalidArgument, "concurrency %d < 1", o.concurrency)
	case o.queue < 0:
		return fail(ErrInvalidArgument, "queue limit %d < 0", o.queue)
	case o.endpoint == nil && !o.about.isZero():
		return fail(ErrInvalidService, "EndpointMetadata and EndpointSchema are for Service.Endpoint")
	case o.timeout < 0, o.maxPayload < 0, o.dedup < 0:
		return fail(ErrInvalidArgument, "negative execution timeout, payload limit or deduplication size")
	}
	return nil
}

// filterSpec is what the transport subscribes for s. Call it with b.mu
// held, as s.id may change.
func (s *Subscription) filterSpec() filterSpec {
	return filterSpec{filter: s.filter, qos: s.opts.qos, id: s.id, fresh: !s.opts.retained}
}

func filterSpecs(subs []*Subscription) []filterSpec {
	out := make([]filterSpec, 0, len(subs)+1)
	for _, s := range subs {
		out = append(out, s.filterSpec())
	}
	return out
}

// Unsubscribe stops the subscription: the broker is told to stop sending, and
// requests already taken still run and are answered; one that arrives after
// is answered with [StatusNotFound]. Calling it again does nothing and
// returns nil.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	if !s.b.removeSubscription(s) {
		return nil
	}
	if err := s.b.t.unsubscribe(ctx, s.filter); err != nil {
		return opError("unsubscribe", s.filter, err)
	}
	return nil
}

// Pattern returns the pattern the subscription was made with.
func (s *Subscription) Pattern() string {
	return s.raw
}

// Filter returns the MQTT topic filter the subscription subscribes to: the
// pattern with its names replaced by wildcards.
func (s *Subscription) Filter() string { return s.filter }
