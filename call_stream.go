package mqttrpc

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"strconv"
	"time"
)

// Bounds of what a caller holds for one stream.
const (
	// streamAhead is how far past the next expected index a response may
	// come (responses published in parallel may overtake each other) and
	// still be kept; beyond, it is dropped and counted.
	streamAhead = 1024
)

// Stream publishes body to topic as a streaming request and yields the
// responses of a streaming handler ([StreamFunc], [TypedStream]) as they
// come, in index order, each with its index ([Message.StreamIndex]), until
// the handler ends the stream.
//
// The whole call is bounded by the context's deadline and by [Timeout], if
// given; without either it has no overall bound. It is also bounded between
// responses by [IdleTimeout] (default: the Broker's request timeout of 5 s):
// a handler silent for longer ends the stream with [ErrTimeout].
//
// The sequence ends after the last response. It yields a nil *Message and an
// error, then ends, when the stream does not end well: a *[RemoteError] the
// handler ended it with ([StatusCanceled] if the executor cancelled it),
// [ErrStreamBroken] when a response is lost for good (its index is named in
// the error) or the loop falls further behind than [ReplyBuffer], [ErrTimeout],
// context.Canceled, [ErrClosed], or what [Broker.Request] would return for a
// request that cannot be sent. A repeated index, one far ahead of the next
// expected, a second "last", a response after the last and those that find
// the ReplyBuffer full are dropped and counted in
// [Stats].StreamResponsesDropped.
//
// When the loop stops early, or ctx ends, or the stream breaks, a cancel goes
// to the executor: its handler's context ends with [ErrCallerCanceled].
//
// Streams need MQTT 5: on MQTT 3.1.1 the sequence yields
// [ErrFeatureNotSupported] at once. The wire follows the RPC streaming design
// of Azure IoT Operations (see the README, "Long-running commands").
func (b *Broker) Stream(ctx context.Context, topicName string, body any, opts ...RequestOption) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		if err := b.stream(ctx, topicName, body, opts, yield); err != nil {
			yield(nil, opError("stream", topicName, err))
		}
	}
}

// CallStream is [Broker.Stream] with each response decoded into an Out, as
// [Call] decodes a reply. Responses come in index order, with no gap, so the
// n-th value is the response of index n. A response that does not decode
// ends the sequence with an error that wraps the decoding error (and
// cancels the call).
func CallStream[Out any](ctx context.Context, b *Broker, topicName string, body any, opts ...RequestOption) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		for m, err := range b.Stream(ctx, topicName, body, opts...) {
			var out Out
			if err != nil {
				yield(out, err)
				return
			}
			if err := decode(m.Body, &out); err != nil {
				yield(out, opError("decode", topicName, err))
				return
			}
			if !yield(out, nil) {
				return
			}
		}
	}
}

// StreamIndex returns the index of a response yielded by [Broker.Stream]:
// 0 for the first, counting up; 0 for any other message.
func (m *Message) StreamIndex() int { return m.index }

type idleTimeoutOption time.Duration

func (d idleTimeoutOption) applyRequest(o requestOptions) requestOptions {
	o.idle = time.Duration(d)
	return o
}

// IdleTimeout bounds the wait for each response of a [Broker.Stream], and
// for its first: a handler silent for longer ends the stream with
// [ErrTimeout]. The default, 0, is the Broker's request timeout (5 s unless
// [WithRequestTimeout] says otherwise). Other calls ignore it.
func IdleTimeout(d time.Duration) RequestOption { return idleTimeoutOption(d) }

// streamState orders the responses of one stream.
type streamState struct {
	b       *Broker
	next    uint64              // the index to yield next
	ahead   map[uint64]*Message // responses that came before next; made when needed
	last    int64               // the index of the "last" control entry; -1 until it comes
	highest int64               // the highest index seen; -1 before any
	done    bool                // ended well: yield nothing more
}

// stream runs one Stream, returning the error that ends it badly.
func (b *Broker) stream(ctx context.Context, topicName string, body any, opts []RequestOption, yield func(*Message, error) bool) (err error) {
	if !b.t.properties() {
		return fail(ErrFeatureNotSupported, "MQTT %s has no user properties to carry a stream", b.cfg.version)
	}
	m, r, err := b.newRequest(topicName, body, opts)
	if err != nil {
		return err
	}
	if r.tokenReply != "" {
		return fail(ErrFeatureNotSupported, "a stream cannot come through TokenReply")
	}
	if b.cfg.hook != nil {
		var done func(error)
		ctx, yield, done = b.hookedStream(ctx, m, opts, yield)
		defer func() { done(err) }()
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	idle := r.idle
	if idle <= 0 {
		idle = b.cfg.requestTimeout
	}
	rt, err := b.routeReply(ctx, m, r)
	if err != nil {
		return err
	}
	defer b.releaseReplyTopic(rt)
	m.Headers = maps.Clone(m.Headers)
	if m.Headers == nil {
		m.Headers = make(map[string]string, 1)
	}
	var left time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		left = time.Until(deadline)
	}
	m.Headers[headerStream] = streamValue(streamData, 0, left)
	buffer := r.replyBuffer
	if buffer == 0 {
		buffer = defaultReplyBuffer
	}
	in := newInbox(buffer, 0, answered) // a loss breaks the stream, which says so
	c := b.pending.addInbox(m.ReplyTo, m.CorrelationID, in)
	defer b.pending.remove(m.ReplyTo, c)
	b.stats.streamsOpened.Add(1)
	if err := b.sendRequest(ctx, m, rt); err != nil {
		if ctx.Err() != nil { // it may have gone out before the PUBACK
			b.stats.streamsCanceled.Add(1)
			b.sendCancel(m)
		}
		return err
	}
	b.endRequestStream(ctx, m)
	st := &streamState{b: b, last: -1, highest: -1}
	canceled := true // unless it ends well, or the executor ended it
	defer func() {
		if canceled {
			b.stats.streamsCanceled.Add(1)
			b.sendCancel(m)
		}
	}()
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var spare []*Message
	for {
		got, dropped, closed := in.take(spare)
		for i, reply := range got {
			got[i] = nil
			more, err := st.receive(reply, yield)
			switch {
			case err != nil:
				canceled = !isRemote(err)
				return err
			case !more && st.done:
				canceled = false
				b.stats.streamsCompleted.Add(1)
				rest := in.seal() // after the last: dropped
				for range len(got) - i - 1 + rest {
					st.drop()
				}
				return nil
			case !more: // the loop stopped
				return nil
			}
		}
		spare = got
		switch {
		case closed:
			canceled = false
			return ErrClosed
		case dropped > 0:
			// Sealed, so that what comes until the stream's removal from
			// the pending table is counted too.
			rest := in.seal()
			for range in.lost() + rest {
				st.drop()
			}
			return fail(ErrStreamBroken, "the loop fell %d responses behind (next index %d; see ReplyBuffer)", in.limit, st.next)
		}
		if len(got) > 0 {
			timer.Reset(idle)
		}
		select {
		case <-in.notify:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			if gap := st.gap(); gap >= 0 {
				return failWith(ErrStreamBroken, lostResponse{index: gap, idle: idle})
			}
			return fail(ErrTimeout, "no response within %v (next index %d)", idle, st.next)
		}
	}
}

// endRequestStream sends c:1:last after the request, ending its one-entry
// request stream, as the Azure IoT Operations design requires of an invoker.
// mqttrpc's handlers need not wait for it; a failure is only logged.
func (b *Broker) endRequestStream(ctx context.Context, m *Message) {
	var left time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		left = time.Until(deadline)
	}
	end := &Message{
		Topic: m.Topic, ReplyTo: m.ReplyTo, CorrelationID: m.CorrelationID, correlation: m.correlation,
		QoS: m.QoS, expiry: m.expiry,
		Headers: map[string]string{headerStream: streamValue(streamControl, 1, left)},
	}
	if err := b.t.publish(ctx, end); err != nil {
		b.log.Debug("mqttrpc: ending a request stream failed", "topic", m.Topic, "err", err)
	}
}

// isRemote reports whether err came from the executor, which has then ended
// the call: no cancel is owed.
func isRemote(err error) bool {
	_, ok := err.(*RemoteError)
	return ok
}

// receive takes one message of the stream, yielding what is now in order.
// It returns more false once the stream has ended well (done) or the loop has
// stopped, and the error that ends the stream badly.
func (st *streamState) receive(m *Message, yield func(*Message, error) bool) (more bool, err error) {
	v, ok := m.Headers[headerStream]
	if !ok {
		// A reply from a handler that does not stream: an error reply (a
		// refusal, say), or a plain reply, taken as a stream of one.
		if err := replyError(m); err != nil {
			return false, err
		}
		if st.next != 0 || st.highest >= 0 {
			st.drop()
			return true, nil
		}
		st.done = true
		yield(m, nil)
		return false, nil
	}
	t := parseStreamTag(v)
	switch t.kind {
	case streamData:
		return st.data(m, t.index, yield)
	case streamControl:
		if st.last >= 0 || int64(t.index) < int64(st.next) || int64(t.index) <= st.highest {
			st.drop() // a second last, or one that contradicts what came
			return true, nil
		}
		st.last = int64(t.index)
		if st.next == t.index {
			st.done = true
			return false, nil
		}
		return true, nil
	case streamStatus:
		if err := replyError(m); err != nil {
			return false, err
		}
	}
	st.drop()
	return true, nil
}

// data takes the response of index i.
func (st *streamState) data(m *Message, i uint64, yield func(*Message, error) bool) (bool, error) {
	_, early := st.ahead[i]
	if i < st.next || early || st.last >= 0 && int64(i) >= st.last || i >= st.next+streamAhead {
		st.drop()
		return true, nil
	}
	st.highest = max(st.highest, int64(i))
	m.index = int(i)
	if i != st.next {
		if st.ahead == nil {
			st.ahead = make(map[uint64]*Message)
		}
		st.ahead[i] = m
		return true, nil
	}
	for {
		st.next++
		if !yield(m, nil) {
			return false, nil
		}
		var ok bool
		if m, ok = st.ahead[st.next]; !ok {
			break
		}
		delete(st.ahead, st.next)
	}
	if st.last >= 0 && int64(st.next) == st.last {
		st.done = true
		return false, nil
	}
	return true, nil
}

// gap returns the index of the first response missing while a later one, or
// the last, has come; -1 if none is.
func (st *streamState) gap() int64 {
	if int64(st.next) <= st.highest || st.last > int64(st.next) {
		return int64(st.next)
	}
	return -1
}

func (st *streamState) drop() {
	st.b.stats.streamDropped.Add(1)
	st.b.log.Debug("mqttrpc: streamed response dropped", "next", strconv.FormatUint(st.next, 10))
}

// lostResponse is why a stream broke on a gap: the index that never came,
// though later ones did, within the idle timeout.
type lostResponse struct {
	index int64
	idle  time.Duration
}

func (l lostResponse) Error() string {
	return fmt.Sprintf("response %d lost: none came within %v, and later ones did", l.index, l.idle)
}
