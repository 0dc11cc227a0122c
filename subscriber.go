package mqttrpc

import (
	"context"
	"fmt"
	"runtime/debug"
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
	return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
		var in In
		if p, ok := any(&in).(**Message); ok {
			*p = m
		} else if err := m.Decode(&in); err != nil {
			return nil, Errorf(StatusBadRequest, "%v", err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if r, ok := any(out).(*Response); ok {
			return r, nil
		}
		return &Response{Body: out, QoS: m.QoS}, nil
	})
}

// Subscription is a handler registered with [Broker.Subscriber].
type Subscription struct {
	b       *Broker
	filter  string
	handler Handler
	opts    subscribeOptions
	intake  chan struct{} // one token per request taken: running or queued
	running chan struct{} // one token per request running
}

// Subscriber subscribes handler h to the topic filter, which may hold
// wildcards (+, #) or be a shared subscription ($share/group/filter). It
// returns once the broker has acknowledged the subscription, or fails within
// the connect timeout; after a reconnect the Broker subscribes again by
// itself. A message that matches several subscribers' filters goes to the one
// registered first. Options: [QoS], [NoReply], [ReplyTopic], [Concurrency],
// [QueueLimit].
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

// deliver is the one dispatcher: every incoming message passes through it. It
// runs on the transport's receiving goroutine and never blocks: replies go to
// the pending-request table, requests to a handler goroutine.
func (b *Broker) deliver(m *Message) {
	switch b.pending.deliver(m) {
	case answered:
		return
	case mismatch:
		b.dropReply(m, "correlation data does not match")
		return
	}
	if b.isInbox(m.Topic) {
		b.dropReply(m, "no request is waiting")
		return
	}
	for _, s := range *b.subs.Load() {
		if topic.Match(s.filter, m.Topic) {
			s.accept(m)
			return
		}
	}
	b.log.Debug("mqttrpc: message matches no subscriber", "topic", m.Topic)
}

func (b *Broker) dropReply(m *Message, why string) {
	b.stats.droppedReplies.Add(1)
	b.log.Debug("mqttrpc: reply dropped", "topic", m.Topic, "reason", why)
}

// accept takes m for the handler if the subscriber has room, and refuses it
// with a 503 error reply otherwise: memory stays bounded and the caller learns
// at once instead of waiting for its timeout.
func (s *Subscription) accept(m *Message) {
	b := s.b
	if b.isClosing() {
		b.refuse(s, m, "shutting down")
		return
	}
	select {
	case s.intake <- struct{}{}:
	default:
		b.stats.overloaded.Add(1)
		b.refuse(s, m, "overloaded")
		return
	}
	b.handlers.Add(1)
	go s.serve(m) // ends when the handler returns, or at once if Close gave up
}

// refuse answers m with a 503 on a goroutine of its own, as the dispatcher
// must not wait for a publish.
func (b *Broker) refuse(s *Subscription, m *Message, why string) {
	b.handlers.Add(1)
	go func() { // ends when the reply is published or times out
		defer b.handlers.Done()
		b.reply(s, m, nil, Errorf(StatusServiceUnavailable, "%s", why))
	}()
}

func (s *Subscription) serve(m *Message) {
	b := s.b
	defer b.handlers.Done()
	defer func() { <-s.intake }()
	select {
	case s.running <- struct{}{}:
	case <-b.handlerCtx.Done():
		return
	}
	defer func() { <-s.running }()

	ctx, cancel := s.handlerContext(m)
	resp, err := b.call(ctx, s.handler, m)
	cancel()
	b.reply(s, m, resp, err)
}

// handlerContext ends at the request's expiry, when its sender stops waiting.
func (s *Subscription) handlerContext(m *Message) (context.Context, context.CancelFunc) {
	if m.expiry > 0 {
		return context.WithTimeout(s.b.handlerCtx, m.expiry)
	}
	return context.WithCancel(s.b.handlerCtx)
}

// call runs the handler, turning a panic into a 500 error reply.
func (b *Broker) call(ctx context.Context, h Handler, m *Message) (resp *Response, err error) {
	panicked := true
	defer func() {
		if !panicked {
			return
		}
		v := recover()
		b.stats.panics.Add(1)
		b.log.Error("mqttrpc: handler panicked", "topic", m.Topic, "panic", v, "stack", string(debug.Stack()))
		resp, err = nil, Errorf(StatusInternalError, "handler panicked: %v", v)
	}()
	resp, err = h.ServeRPC(ctx, m)
	panicked = false
	return resp, err
}

// Reserved user properties of an error reply.
const (
	headerStatus        = "__stat"
	headerStatusMessage = "__stMsg"
)

// reply publishes the answer to request m, if it wants one.
func (b *Broker) reply(s *Subscription, m *Message, resp *Response, err error) {
	to := m.ReplyTo
	if to == "" {
		to = s.opts.replyTopic
	}
	if s.opts.noReply || to == "" {
		if err != nil {
			b.log.Warn("mqttrpc: handler failed; no reply wanted", "topic", m.Topic, "err", err)
		}
		return
	}
	if err := topic.ValidName(to); err != nil {
		b.log.Warn("mqttrpc: request has an invalid reply topic", "topic", m.Topic, "reply_to", to, "err", err)
		return
	}
	out, err := b.replyMessage(to, m, resp, err)
	if err != nil {
		b.log.Warn("mqttrpc: handler failed; MQTT 3.1.1 cannot carry an error reply", "topic", m.Topic, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.requestTimeout)
	defer cancel()
	if err := b.t.publish(ctx, out); err != nil {
		b.log.Warn("mqttrpc: publishing reply failed", "topic", to, "err", err)
	}
}

// replyMessage builds the reply to m. It returns the handler's error when
// the reply cannot carry it: MQTT 3.1.1 has no user properties, and an empty
// reply there would read as success.
func (b *Broker) replyMessage(to string, m *Message, resp *Response, err error) (*Message, error) {
	out := &Message{Topic: to, CorrelationID: m.CorrelationID, QoS: m.QoS}
	if err == nil && resp != nil {
		out.Body, out.ContentType, err = encode(resp.Body)
		out.Headers, out.QoS, out.Retain = resp.Headers, resp.QoS, resp.Retain
		if resp.CorrelationID != "" {
			out.CorrelationID = resp.CorrelationID
		}
	}
	if err == nil {
		return out, nil
	}
	if !b.t.properties() {
		return nil, err
	}
	re := remoteErrorFrom(err)
	return &Message{
		Topic:         to,
		CorrelationID: m.CorrelationID,
		QoS:           m.QoS,
		Headers:       map[string]string{headerStatus: fmt.Sprint(re.Code), headerStatusMessage: re.Message},
	}, nil
}
