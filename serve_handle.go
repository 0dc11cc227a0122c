package mqttrpc

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/deadline"

	"github.com/mqttrpc/mqttrpc/internal/ids"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// serve runs one accepted request through the subscriber's middleware chain
// and handler, and sends the reply.
//
// Its frame, and those of answer and send, stay small (the handler runs in
// handle, cold paths are functions of their own): a reply's publish is the
// deepest call of a handler's goroutine, and a few hundred bytes more there
// made every goroutine grow its stack, a copy per request.
func (s *Subscription) serve(m *Message) {
	b := s.b
	defer b.tasks.Done()
	defer func() { <-s.intake }()
	select {
	case s.running <- struct{}{}:
	case <-b.handlerCtx.Done():
		return
	}
	defer func() { <-s.running }()
	ran, resp, err := s.handle(m)
	switch {
	case !ran:
	case m.respond != nil:
		m.respond.reply(m, resp, err)
	default:
		s.answer(m, resp, err)
	}
}

// handle runs the chain on m within the request's deadline, or reports false
// if the deadline has passed while m queued.
func (s *Subscription) handle(m *Message) (ran bool, resp *Response, err error) {
	b := s.b
	due, ok := m.deadline()
	if ok && !time.Now().Before(due) {
		// Its sender has stopped waiting while it queued: running it now
		// would only do work nobody reads.
		s.expired(m)
		return false, nil, nil
	}
	ctx := b.handlerCtx
	var rc *deadline.Context // the context a cancel from the caller ends; nil if none can
	if ok || cancellable(m) {
		// No timer, and no cancellation, unless the handler waits on them
		// or its caller cancels.
		dc := deadline.New(ctx, due)
		defer dc.Stop()
		ctx = dc
		if b.track(dc, m) {
			rc = dc
			defer b.untrack(m, dc)
		}
	}
	m.pattern = &s.pattern
	if err := s.openStream(ctx, m, rc); err != nil {
		return true, nil, err
	}
	if s.opts.timeout > 0 { // the execution timeout may answer first
		m.respond = &replier{answer: s.answer}
	}
	resp, err = s.handler.ServeRPC(ctx, m)
	if rc != nil && rc.Canceled() {
		resp, err = nil, canceledError()
	}
	return true, resp, err
}

// expired counts and logs a request whose deadline passed while it queued.
//
//go:noinline
func (s *Subscription) expired(m *Message) {
	s.b.stats.expired.Add(1)
	s.countRefused()
	s.b.log.Debug("mqttrpc: request expired before a handler was free", "topic", m.Topic)
}

// replier sends the one reply to a request whose execution timeout may answer
// before its handler: the first answer wins. sync.Once also makes the loser
// wait for the winner, so nothing is still publishing once both returned.
type replier struct {
	once   sync.Once
	answer func(m *Message, resp *Response, err error)
}

func (r *replier) reply(m *Message, resp *Response, err error) {
	r.once.Do(func() { r.answer(m, resp, err) })
}

// answer sends the reply to m built from what its handler returned.
func (s *Subscription) answer(m *Message, resp *Response, err error) {
	if m.stream != nil {
		m.stream.finish(err)
		return
	}
	out := s.b.replyMessage(m, s.answerTopic(m), resp, err)
	if out != nil && out.CorrelationID == "" && m.ReplyTo == "" && s.b.t.properties() {
		// A reply to an event, sent to the ReplyTopic: Correlation Data
		// marks it as a reply, which no mqttrpc handler answers.
		out.CorrelationID = ids.UUID()
	}
	s.b.send(out, m)
}

// answerTopic returns where the reply to m goes: its Response Topic, else the
// subscriber's ReplyTopic; "" if nowhere. On MQTT 5 a message with
// Correlation Data and no Response Topic is itself a reply and is never
// answered: two services replying to each other's topics would loop forever.
func (s *Subscription) answerTopic(m *Message) string {
	switch {
	case s.opts.noReply:
		return ""
	case m.ReplyTo != "":
		return m.ReplyTo
	case m.CorrelationID != "" || s.reply == nil:
		return ""
	}
	return s.reply.Expand(s.pattern, m.Topic)
}

// replyMessage builds the reply to request m, on topic to, from what its
// handler returned; it returns nil when none is to be sent: nowhere to reply
// to, and errors on MQTT 3.1.1, which has no user properties to carry them
// (an empty reply there would read as success).
func (b *Broker) replyMessage(m *Message, to string, resp *Response, err error) *Message {
	if err != nil {
		b.logHandlerError(m, err)
	}
	if to == "" {
		return nil
	}
	if err := topic.ValidReplyTopic(to); err != nil {
		b.log.Warn("mqttrpc: request has an invalid reply topic", "topic", m.Topic, "reply_to", to, "err", err)
		return nil
	}
	if err != nil {
		return b.errorReply(m, to, remoteErrorFrom(err, b.cfg.errorDetails))
	}
	out := &Message{Topic: to, CorrelationID: m.CorrelationID, correlation: m.correlation, QoS: m.QoS, Headers: m.replyHeaders}
	if resp == nil {
		return out
	}
	if resp.QoS > 2 && resp.QoS != AtMostOnce {
		return b.errorReply(m, to, &RemoteError{Code: StatusInternalError, Message: msgInternal})
	}
	body, contentType, err := encode(resp.Body)
	if err != nil {
		b.logHandlerError(m, err)
		return b.errorReply(m, to, remoteErrorFrom(err, b.cfg.errorDetails))
	}
	out.Body, out.ContentType, out.given = body, contentType, resp.Body
	if resp.ContentType != "" {
		out.ContentType = resp.ContentType
	}
	out.QoS, out.Retain = resp.QoS.qos(m.QoS), resp.Retain
	switch {
	case len(resp.Headers) == 0:
	case len(out.Headers) == 0:
		out.Headers = resp.Headers
	default:
		out.Headers = maps.Clone(out.Headers)
		maps.Copy(out.Headers, resp.Headers)
	}
	if resp.CorrelationID != "" {
		out.CorrelationID, out.correlation = resp.CorrelationID, nil
	}
	return out
}

// errorReply is the reply carrying re to request m, or nil on MQTT 3.1.1.
func (b *Broker) errorReply(m *Message, to string, re *RemoteError) *Message {
	if !b.t.properties() {
		b.log.Warn("mqttrpc: MQTT 3.1.1 cannot carry an error reply; none sent", "topic", m.Topic, "status", re.Code)
		return nil
	}
	return &Message{
		Topic:         to,
		CorrelationID: m.CorrelationID,
		correlation:   m.correlation,
		QoS:           m.QoS,
		Headers:       statusHeaders(re),
	}
}

// logHandlerError logs what a handler returned: the caller sees only a
// generic message for an error that is not a *RemoteError.
func (b *Broker) logHandlerError(m *Message, err error) {
	re := remoteErrorFrom(err, true)
	level := b.log.Debug
	if re.Code >= 500 {
		level = b.log.Warn
	}
	level("mqttrpc: handler failed", "topic", m.Topic, "status", re.Code, "err", err)
}

// send publishes a reply to request req built by replyMessage, if there is
// one.
func (b *Broker) send(out, req *Message) {
	if out == nil {
		return
	}
	ctx := b.handlerCtx
	if out.QoS > 0 { // a QoS 0 publish is one write and waits for nothing
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.requestTimeout)
		defer cancel()
	}
	if err := b.t.publish(ctx, out); err != nil {
		b.sendFailed(out, req, err)
	}
}

// sendFailed sends out again if it failed for want of a connection (see
// resend), and logs what still fails.
//
//go:noinline
func (b *Broker) sendFailed(out, req *Message, err error) {
	if errors.Is(err, ErrDisconnected) {
		err = b.resend(out, req)
	}
	if err != nil {
		b.log.Warn("mqttrpc: publishing reply failed", "topic", out.Topic, "err", err)
	}
}

// resend publishes out again once the connection is back, if that is before
// req's deadline. A kept session delivers its queued requests as the
// connection comes up, before autopaho takes publishes: their replies would be
// lost. MQTT 5 only: there a late reply goes to its own request's reply topic
// and is dropped by its caller, while on MQTT 3.1.1 it would answer the next
// request on a shared reply topic.
//
// The messages of a stream are sent again however often the connection
// drops, until it is back, the request's deadline passes, if it has one, or
// the Broker closes: a stream is long, its caller may keep its session
// (WithSessionExpiry) through the outage, and it puts responses back in
// order and drops a repeat (a publish cut off may have reached the broker).
func (b *Broker) resend(out, req *Message) error {
	deadline, ok := req.deadline()
	if !b.t.properties() || !ok && req.stream == nil {
		return ErrDisconnected
	}
	ctx := b.handlerCtx
	if ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	for {
		if err := b.awaitReady(ctx); err != nil {
			return err
		}
		err := b.publishWithin(ctx, out)
		if req.stream == nil || !errors.Is(err, ErrDisconnected) {
			return err
		}
	}
}

// publishWithin publishes out within ctx and the request timeout.
func (b *Broker) publishWithin(ctx context.Context, out *Message) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.requestTimeout)
	defer cancel()
	return b.t.publish(ctx, out)
}

// Handler answers requests. ServeRPC runs on a goroutine of its own, up to
// the subscriber's [Concurrency] at once.
//
// ctx ends when the request's sender stops waiting (its Message Expiry
// Interval, counted from the request's arrival), at the subscriber's
// [ExecutionTimeout], or when [Broker.Close] gives up waiting for handlers.
//
// What ServeRPC returns is published to the request's Response Topic with its
// Correlation Data: a nil *Response as an empty reply, an error as an error
// reply (a *[RemoteError] keeps its code and message; any other error is a
// 500 with a generic message). A panic is recovered and answered with a 500;
// the Broker keeps serving.
type Handler interface {
	ServeRPC(ctx context.Context, m *Message) (*Response, error)
}

// HandlerFunc lets an ordinary function serve as a [Handler].
type HandlerFunc func(ctx context.Context, m *Message) (*Response, error)

// ServeRPC calls f(ctx, m).
func (f HandlerFunc) ServeRPC(ctx context.Context, m *Message) (*Response, error) {
	return f(ctx, m)
}
