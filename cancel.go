package mqttrpc

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/mqttrpc/mqttrpc/internal/deadline"
)

const msgCanceled = "canceled by the caller"

// callKey names a running call the way a cancel names it: the Response
// Topic and Correlation Data of its request.
type callKey struct{ replyTo, correlation string }

// runningCalls is the table of running requests that a cancel can name.
type runningCalls struct {
	mu    sync.Mutex
	calls map[callKey]*deadline.Context // each running handler's
}

// track enters m, whose handler runs with ctx, in the table of running
// calls if a cancel can name it: on MQTT 5, with a Response Topic and
// Correlation Data. It returns nil for a request that cannot be cancelled.
// ctx makes its cancellation only if a cancel comes, or something waits on
// it: a request pays a table entry, not a context of its own.
func (b *Broker) track(ctx *deadline.Context, m *Message) bool {
	if !cancellable(m) {
		return false
	}
	key := callKey{m.ReplyTo, m.CorrelationID}
	r := &b.running
	r.mu.Lock()
	if r.calls == nil {
		r.calls = make(map[callKey]*deadline.Context)
	}
	if _, dup := r.calls[key]; dup {
		r.mu.Unlock()
		return false
	}
	r.calls[key] = ctx
	r.mu.Unlock()
	return true
}

// cancellable reports whether a cancel can name m.
func cancellable(m *Message) bool {
	return m.ReplyTo != "" && m.CorrelationID != ""
}

// untrack takes m out of the table once its handler has returned.
func (b *Broker) untrack(m *Message, ctx *deadline.Context) {
	r := &b.running
	key := callKey{m.ReplyTo, m.CorrelationID}
	r.mu.Lock()
	if r.calls[key] == ctx {
		delete(r.calls, key)
	}
	r.mu.Unlock()
}

// cancelCall ends the handler of the running call named by m, a cancel. A
// cancel for a call not running here (finished, unknown, or run by another
// instance of a shared subscription) changes nothing and is counted; so is a
// repeated one.
func (b *Broker) cancelCall(m *Message) {
	r := &b.running
	r.mu.Lock()
	rc := r.calls[callKey{m.ReplyTo, m.CorrelationID}]
	r.mu.Unlock()
	if rc == nil || !rc.Cancel(ErrCallerCanceled) {
		b.stats.cancelsIgnored.Add(1)
		b.log.Debug("mqttrpc: cancel for no running call", "topic", m.Topic)
		return
	}
	b.stats.canceled.Add(1)
}

// control handles a message on a request topic that carries __stream and is
// no request: a cancel, or the end of a request stream, which mqttrpc, whose
// request streams have one entry, needs not. It reports false for a request.
func (b *Broker) control(m *Message) bool {
	v, ok := m.Headers[headerStream]
	if !ok {
		return false
	}
	t := parseStreamTag(v)
	switch {
	case t.kind == streamData:
		return false
	case t.kind == streamStatus && m.Headers[headerStatus] == strconv.Itoa(StatusCanceled):
		b.cancelCall(m)
	case t.kind == streamControl:
	default:
		b.stats.cancelsIgnored.Add(1)
		b.log.Debug("mqttrpc: stream control message not understood", "topic", m.Topic, headerStream, v)
	}
	return true
}

// sendCancel tells the executor of request m that its caller has given up.
// It is best effort: it waits at most the Broker's request timeout, and a
// failure is only logged. MQTT 5 only: on 3.1.1 a cancel cannot name a call.
func (b *Broker) sendCancel(m *Message) {
	if !b.t.properties() || m.ReplyTo == "" || m.CorrelationID == "" || b.isClosing() {
		return
	}
	c := &Message{
		Topic:         m.Topic,
		ReplyTo:       m.ReplyTo,
		CorrelationID: m.CorrelationID,
		correlation:   m.correlation,
		QoS:           m.QoS,
		Headers: map[string]string{
			headerStream:        streamValue(streamStatus, 0, b.cfg.requestTimeout),
			headerStatus:        strconv.Itoa(StatusCanceled),
			headerStatusMessage: msgCanceled,
		},
		expiry: b.cfg.requestTimeout,
	}
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.requestTimeout)
	defer cancel()
	if err := b.t.publish(ctx, c); err != nil && !errors.Is(err, ErrNoResponders) {
		b.log.Debug("mqttrpc: sending a cancel failed", "topic", m.Topic, "err", err)
	}
}

// canceledError is what a cancelled call is answered with.
func canceledError() *RemoteError {
	return &RemoteError{Code: StatusCanceled, Message: msgCanceled}
}

// answerCancels turns the error of a handler whose caller cancelled it into
// the 499 the caller is answered with, innermost in the chain, so that
// every middleware, the served hook and a tracing hook see the cancel as
// the caller does, not as a 503 for the context.Canceled the handler
// returned.
func answerCancels(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
		resp, err := next.ServeRPC(ctx, m)
		if err != nil && errors.Is(context.Cause(ctx), ErrCallerCanceled) {
			return nil, canceledError()
		}
		return resp, err
	})
}
