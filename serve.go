package mqttrpc

import (
	"context"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// Reserved user properties of an error reply.
const (
	headerStatus        = "__stat"
	headerStatusMessage = "__stMsg"
)

// serve runs the handler for one accepted request and sends its reply.
func (s *Subscription) serve(m *Message) {
	b := s.b
	defer b.tasks.done()
	defer func() { <-s.intake }()
	select {
	case s.running <- struct{}{}:
	case <-b.handlerCtx.Done():
		return
	}
	defer func() { <-s.running }()

	if s.opts.maxPayload > 0 && len(m.Body) > s.opts.maxPayload {
		s.send(s.reply(m, nil, Errorf(StatusPayloadTooLarge, "payload of %d bytes exceeds the limit of %d", len(m.Body), s.opts.maxPayload)))
		return
	}
	entry, first := s.dedup.begin(m)
	if !first {
		s.replay(entry, m)
		return
	}
	defer entry.finish()

	ctx, cancel := s.handlerContext(m)
	defer cancel()
	if s.opts.timeout > 0 {
		s.serveWithTimeout(ctx, m, entry)
		return
	}
	resp, err := b.call(ctx, s.handler, m)
	out := s.reply(m, resp, err)
	entry.store(out)
	s.send(out)
}

// serveWithTimeout sends exactly one reply, whichever comes first: the
// handler's, or a 408 at the execution timeout. sync.Once also makes the
// loser wait for the winner, so nothing is still publishing once it returns.
func (s *Subscription) serveWithTimeout(ctx context.Context, m *Message, entry *dedupEntry) {
	var once sync.Once
	answer := func(resp *Response, err error) {
		once.Do(func() {
			out := s.reply(m, resp, err)
			entry.store(out)
			s.send(out)
		})
	}
	d := s.opts.timeout
	timer := time.AfterFunc(d, func() { // runs only if the handler is late
		answer(nil, Errorf(StatusRequestTimeout, "handler did not finish within %v", d))
	})
	defer timer.Stop()
	answer(s.b.call(ctx, s.handler, m))
}

// handlerContext ends at the request's expiry, when its sender stops waiting,
// or at the subscriber's execution timeout, whichever is first.
func (s *Subscription) handlerContext(m *Message) (context.Context, context.CancelFunc) {
	d := m.expiry
	if t := s.opts.timeout; t > 0 && (d == 0 || t < d) {
		d = t
	}
	if d > 0 {
		return context.WithTimeout(s.b.handlerCtx, d)
	}
	// No deadline: the Broker's own context already ends at Close, and a
	// derived one would only cost allocations on every request.
	return s.b.handlerCtx, func() {}
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

// reply builds the reply to request m from what its handler returned, or
// returns nil when none is to be sent: no-reply subscribers, requests with
// nowhere to reply to, and errors on MQTT 3.1.1, which has no user properties
// to carry them (an empty reply there would read as success).
func (s *Subscription) reply(m *Message, resp *Response, err error) *Message {
	b := s.b
	to := s.replyTopic(m)
	if to == "" {
		if err != nil {
			b.log.Warn("mqttrpc: handler failed; no reply wanted", "topic", m.Topic, "err", err)
		}
		return nil
	}
	out := &Message{Topic: to, CorrelationID: m.CorrelationID, correlation: m.correlation, QoS: m.QoS}
	if err == nil && resp != nil {
		out.Body, out.ContentType, err = encode(resp.Body)
		out.Headers, out.QoS, out.Retain = resp.Headers, resp.QoS, resp.Retain
		if resp.CorrelationID != "" {
			out.CorrelationID = resp.CorrelationID
		}
	}
	if err == nil {
		return out
	}
	if !b.t.properties() {
		b.log.Warn("mqttrpc: handler failed; MQTT 3.1.1 cannot carry an error reply", "topic", m.Topic, "err", err)
		return nil
	}
	re := remoteErrorFrom(err)
	return &Message{
		Topic:         to,
		CorrelationID: m.CorrelationID,
		correlation:   m.correlation,
		QoS:           m.QoS,
		Headers:       map[string]string{headerStatus: strconv.Itoa(re.Code), headerStatusMessage: re.Message},
	}
}

// replyTopic returns where the reply to m goes: its Response Topic, else the
// subscriber's ReplyTopic; "" if nowhere (no-reply, or an invalid topic).
func (s *Subscription) replyTopic(m *Message) string {
	to := m.ReplyTo
	if to == "" {
		to = s.opts.replyTopic
	}
	if s.opts.noReply || to == "" {
		return ""
	}
	if err := topic.ValidName(to); err != nil {
		s.b.log.Warn("mqttrpc: request has an invalid reply topic", "topic", m.Topic, "reply_to", to, "err", err)
		return ""
	}
	return to
}

// send publishes a reply built by reply, if there is one.
func (s *Subscription) send(out *Message) {
	if out == nil {
		return
	}
	b := s.b
	ctx := b.handlerCtx
	if out.QoS > 0 { // a QoS 0 publish is one write and waits for nothing
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.requestTimeout)
		defer cancel()
	}
	if err := b.t.publish(ctx, out); err != nil {
		b.log.Warn("mqttrpc: publishing reply failed", "topic", out.Topic, "err", err)
	}
}
