package mqttrpc

import (
	"context"
	"fmt"
	"slices"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// Handler answers requests. ServeRPC runs on a goroutine of its own, up to
// the subscriber's [Concurrency] at once.
//
// ctx is cancelled when the request's sender stops waiting (its Message Expiry
// Interval has passed) or when [Broker.Close] gives up waiting for handlers.
//
// What ServeRPC returns is published to the request's Response Topic with its
// Correlation Data: a nil *Response as an empty reply, an error as an error
// reply (a *[RemoteError] keeps its code; any other error is a 500). A panic
// is recovered and answered with a 500; the Broker keeps serving.
type Handler interface {
	ServeRPC(ctx context.Context, m *Message) (*Response, error)
}

// HandlerFunc lets an ordinary function serve as a [Handler].
type HandlerFunc func(ctx context.Context, m *Message) (*Response, error)

// ServeRPC calls f(ctx, m).
func (f HandlerFunc) ServeRPC(ctx context.Context, m *Message) (*Response, error) {
	return f(ctx, m)
}

// Typed adapts a function of typed values to a [Handler]. The request body is
// decoded into In: a string or []byte takes the payload as it is, a *Message
// takes the whole message, any other type is decoded from JSON; a payload that
// does not decode is answered with [StatusBadRequest] without calling fn. The
// Out value is encoded as [Response.Body] is, or used as the reply itself if
// it is a *Response.
func Typed[In, Out any](fn func(ctx context.Context, in In) (Out, error)) Handler {
	_, outIsResponse := any((*Out)(nil)).(**Response) // decided once, not per request
	return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
		in, err := decodeRequest[In](m)
		if err != nil {
			return nil, Errorf(StatusBadRequest, "%v", err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if outIsResponse {
			return any(out).(*Response), nil
		}
		return &Response{Body: out, QoS: m.QoS}, nil
	})
}

// decodeRequest decodes m's body into a new In. The common cases avoid the
// reflection and the allocation of a JSON decode: a []byte takes the body
// itself, which belongs to this one request.
func decodeRequest[In any](m *Message) (In, error) {
	var in In
	switch p := any(&in).(type) {
	case *string:
		*p = string(m.Body)
	case *[]byte:
		*p = m.Body
	case **Message:
		*p = m
	default:
		v := new(In)
		if err := decode(m.Body, v); err != nil {
			return in, err
		}
		return *v, nil
	}
	return in, nil
}

// Subscription is a handler registered with [Broker.Subscriber].
type Subscription struct {
	b       *Broker
	filter  string
	handler Handler
	opts    subscribeOptions
	intake  chan struct{} // one token per request taken: running or queued
	running chan struct{} // one token per request running
	dedup   *dedupCache   // nil unless Deduplicate is set
}

// Subscriber subscribes handler h to the topic filter, which may hold
// wildcards (+, #) or be a shared subscription ($share/group/filter). It
// returns once the broker has acknowledged the subscription, or fails within
// the connect timeout; after a reconnect the Broker subscribes again by
// itself. A message that matches several subscribers' filters goes to the one
// registered first. Options: [QoS], [NoReply], [ReplyTopic], [Concurrency],
// [QueueLimit], [ExecutionTimeout], [MaxPayload], [Deduplicate].
func (b *Broker) Subscriber(filter string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	o := subscribeOptions{concurrency: 64, queue: 1024}
	for _, opt := range opts {
		opt.applySubscribe(&o)
	}
	if err := validateSubscriber(filter, h, o); err != nil {
		return nil, err
	}
	s := &Subscription{
		b:       b,
		filter:  filter,
		handler: h,
		opts:    o,
		intake:  make(chan struct{}, o.concurrency+o.queue),
		running: make(chan struct{}, o.concurrency),
		dedup:   newDedupCache(o.dedup),
	}
	if err := b.addSubscription(s); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.connectTimeout)
	defer cancel()
	err := b.awaitReady(ctx)
	if err == nil {
		err = b.t.subscribe(ctx, filter, o.qos)
	}
	if err != nil {
		b.removeSubscription(s)
		return nil, fmt.Errorf("mqttrpc: subscribe %q: %w", filter, err)
	}
	return s, nil
}

func validateSubscriber(filter string, h Handler, o subscribeOptions) error {
	if err := topic.ValidFilter(filter); err != nil {
		return fmt.Errorf("%w: filter %q: %w", ErrInvalidTopic, filter, err)
	}
	if o.replyTopic != "" {
		if err := topic.ValidName(o.replyTopic); err != nil {
			return fmt.Errorf("%w: reply topic %q: %w", ErrInvalidTopic, o.replyTopic, err)
		}
		if topic.Match(filter, o.replyTopic) {
			return fmt.Errorf("%w: reply topic %q matches the filter %q: the handler would answer its own replies forever",
				ErrInvalidTopic, o.replyTopic, filter)
		}
	}
	switch {
	case h == nil:
		return fmt.Errorf("mqttrpc: subscribe %q: nil handler", filter)
	case o.qos > 2:
		return fmt.Errorf("mqttrpc: subscribe %q: invalid QoS %d", filter, o.qos)
	case o.concurrency < 1:
		return fmt.Errorf("mqttrpc: subscribe %q: concurrency %d < 1", filter, o.concurrency)
	case o.queue < 0:
		return fmt.Errorf("mqttrpc: subscribe %q: queue limit %d < 0", filter, o.queue)
	case o.timeout < 0, o.maxPayload < 0, o.dedup < 0:
		return fmt.Errorf("mqttrpc: subscribe %q: negative execution timeout, payload limit or deduplication size", filter)
	}
	return nil
}

func (b *Broker) addSubscription(s *Subscription) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosing() {
		return ErrClosed
	}
	subs := *b.subs.Load()
	for _, other := range subs {
		if other.filter == s.filter {
			return fmt.Errorf("mqttrpc: subscribe %q: filter already has a handler", s.filter)
		}
	}
	subs = append(slices.Clip(subs), s)
	b.subs.Store(&subs)
	return nil
}

func (b *Broker) removeSubscription(s *Subscription) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := *b.subs.Load()
	i := slices.Index(subs, s)
	if i < 0 {
		return false
	}
	subs = slices.Delete(slices.Clone(subs), i, i+1)
	b.subs.Store(&subs)
	return true
}

// Unsubscribe stops the subscription: the broker is told to stop sending, and
// requests already taken still run and are answered. Calling it again does
// nothing and returns nil.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	if !s.b.removeSubscription(s) {
		return nil
	}
	if err := s.b.t.unsubscribe(ctx, s.filter); err != nil {
		return fmt.Errorf("mqttrpc: unsubscribe %q: %w", s.filter, err)
	}
	return nil
}

// Filter returns the topic filter the subscription was made with.
func (s *Subscription) Filter() string { return s.filter }
