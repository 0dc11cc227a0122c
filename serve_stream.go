package mqttrpc

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"

	"github.com/mqttrpc/mqttrpc/internal/deadline"
)

// sendWindow bounds the QoS 1 and 2 responses of one stream that wait for
// their acknowledgement at once: a stream is a pipeline of publishes, not a
// round trip each, and a slow broker or caller (its Receive Maximum) makes
// [Sender.Send] wait instead of letting responses pile up.
const sendWindow = 32

// Sender sends the responses of one streaming call, in order, each with its
// index. A streaming handler ([StreamFunc], [TypedStream]) gets one; its
// return ends the stream. Send may be called from one goroutine at a time.
type Sender struct {
	b   *Broker
	req *Message
	to  string
	ctx context.Context   // the handler's context
	rc  *deadline.Context // ended by a cancel from the caller; nil if the call cannot be cancelled

	window chan struct{} // one token per publish awaiting its acknowledgement
	wg     sync.WaitGroup

	mu     sync.Mutex
	next   uint64 // the index of the next response
	ended  bool   // the end has been sent, or is being sent
	silent bool   // a repeat of a request already streaming: send nothing
	err    error  // the first publish that failed
}

// Send encodes body as [Response.Body] is encoded and sends it as the next
// response. It waits while [sendWindow] responses await their
// acknowledgement. It fails once the caller has cancelled (the error wraps
// [context.Canceled], with [ErrCallerCanceled] as its cause), once the
// handler's context has ended, once the stream has ended, or once an earlier
// response could not be published.
func (s *Sender) Send(body any) error {
	return s.SendResponse(&Response{Body: body})
}

// SendResponse sends r as the next response: its body, content type and
// headers. Its QoS, retain flag and Correlation Data are ignored: a response
// goes at the request's QoS, not retained, with the request's Correlation
// Data.
func (s *Sender) SendResponse(r *Response) error {
	if r == nil {
		r = &Response{}
	}
	if err := s.ctx.Err(); err != nil {
		return s.fail(failWith(context.Canceled, context.Cause(s.ctx)))
	}
	body, contentType, err := encode(r.Body)
	if err != nil {
		return s.fail(err)
	}
	if r.ContentType != "" {
		contentType = r.ContentType
	}
	if s.req.QoS > 0 {
		select {
		case s.window <- struct{}{}:
		case <-s.ctx.Done():
			return s.fail(failWith(context.Canceled, context.Cause(s.ctx)))
		}
	}
	s.mu.Lock()
	if s.ended || s.err != nil || s.silent {
		err := s.err
		s.mu.Unlock()
		if s.req.QoS > 0 {
			<-s.window
		}
		if err == nil {
			err = fail(ErrInvalidArgument, "the stream has ended")
		}
		return s.fail(err)
	}
	i := s.next
	s.next++
	s.wg.Add(1)
	s.mu.Unlock()
	out := &Message{
		Topic: s.to, CorrelationID: s.req.CorrelationID, correlation: s.req.correlation,
		QoS: s.req.QoS, Body: body, ContentType: contentType, given: r.Body,
		Headers: make(map[string]string, len(r.Headers)+1),
	}
	for k, v := range r.Headers {
		out.Headers[k] = v
	}
	out.Headers[headerStream] = streamValue(streamData, i, 0)
	if s.req.QoS == 0 { // one write; nothing to wait for
		defer s.wg.Done()
		return s.publish(out)
	}
	go func() { // ends when the broker acknowledges, or the publish fails
		defer s.wg.Done()
		defer func() { <-s.window }()
		_ = s.publish(out)
	}()
	return nil
}

// publish sends one message of the stream, remembering the first failure.
// One that fails for want of a connection is sent again once the
// connection is back (see [Broker.resend]).
func (s *Sender) publish(out *Message) error {
	err := s.b.publishWithin(s.b.handlerCtx, out)
	if errors.Is(err, ErrDisconnected) {
		err = s.b.resend(out, s.req)
	}
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
		return s.fail(err)
	}
	return nil
}

func (s *Sender) fail(err error) error {
	return opError("send", s.to, err)
}

// Sent returns how many responses have been sent so far.
func (s *Sender) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.next)
}

// finish ends the stream once every response sent is acknowledged: with
// c:<n>:last if err is nil, with a status otherwise, and with
// [StatusCanceled] if the caller cancelled. Only the first call sends.
func (s *Sender) finish(err error) {
	s.mu.Lock()
	if s.ended || s.silent {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	n, sendErr := s.next, s.err
	s.mu.Unlock()
	out := &Message{Topic: s.to, CorrelationID: s.req.CorrelationID, correlation: s.req.correlation, QoS: s.req.QoS}
	switch {
	case s.rc != nil && s.rc.Canceled():
		out.Headers = statusHeaders(canceledError())
		out.Headers[headerStream] = streamValue(streamStatus, 0, 0)
	case err != nil:
		s.b.logHandlerError(s.req, err)
		out.Headers = statusHeaders(remoteErrorFrom(err, s.b.cfg.errorDetails))
		out.Headers[headerStream] = streamValue(streamStatus, 0, 0)
	case sendErr != nil:
		// A response was lost: say so rather than end as if complete.
		out.Headers = statusHeaders(&RemoteError{Code: StatusInternalError, Message: "response " + strconv.FormatUint(n-1, 10) + " not sent"})
		out.Headers[headerStream] = streamValue(streamStatus, 0, 0)
	default:
		out.Headers = map[string]string{headerStream: streamValue(streamControl, n, 0)}
	}
	s.b.send(out, s.req)
}

// drop makes s send nothing: its request repeats one already streaming (see
// [Deduplicate]), whose caller must not get a second stream.
func (s *Sender) drop() {
	s.mu.Lock()
	s.silent = true
	s.mu.Unlock()
}

// Messages of the error replies to a call whose kind does not match its
// handler's.
const (
	msgNotStreaming = "the handler does not stream responses; send a plain request"
	msgStreaming    = "the handler streams responses; send a streaming request"
	msgBadStream    = "request streams of more than one entry are not supported"
)

// openStream readies m's stream, if m is a streaming request, and checks
// that the request is of the kind the subscriber's handler serves. It
// returns the error to answer m with if not.
func (s *Subscription) openStream(ctx context.Context, m *Message, rc *deadline.Context) error {
	v, ok := m.Headers[headerStream]
	switch {
	case !ok && s.streams:
		return &RemoteError{Code: StatusBadRequest, Message: msgStreaming}
	case !ok, s.opts.noReply: // a NoReply handler takes any message as it is
		return nil
	case !s.streams:
		return &RemoteError{Code: StatusBadRequest, Message: msgNotStreaming}
	}
	if t := parseStreamTag(v); t.kind != streamData || t.index != 0 {
		return &RemoteError{Code: StatusBadRequest, Message: msgBadStream}
	}
	to := s.answerTopic(m)
	if to == "" {
		return &RemoteError{Code: StatusBadRequest, Message: "a streaming request needs a Response Topic"}
	}
	s.b.stats.streamsServed.Add(1)
	m.stream = &Sender{b: s.b, req: m, to: to, ctx: ctx, rc: rc, window: make(chan struct{}, sendWindow)}
	return nil
}

// StreamFunc adapts fn to a [Handler] that streams its responses: fn sends
// any number of them with s, and its return ends the stream, with an error
// status if it returns an error (a *[RemoteError] keeps its code and
// message, as for [Handler]). A cancel from the caller ends ctx with the cause
// [ErrCallerCanceled]; the stream then ends with [StatusCanceled].
//
// The handler serves streaming requests only (see [Broker.Stream]); a plain
// request gets a [StatusBadRequest] error reply, as a streaming request to a
// handler that does not stream does.
func StreamFunc(fn func(ctx context.Context, m *Message, s *Sender) error) Handler {
	return &streamHandler{fn: fn}
}

type streamHandler struct {
	fn func(ctx context.Context, m *Message, s *Sender) error
}

func (h *streamHandler) ServeRPC(ctx context.Context, m *Message) (*Response, error) {
	if m.stream == nil {
		return nil, &RemoteError{Code: StatusBadRequest, Message: msgStreaming}
	}
	return nil, h.fn(ctx, m, m.stream)
}

func (*streamHandler) streaming() {}

// TypedStream is the streaming counterpart of [Typed]: the request body is
// decoded into In (a payload that does not decode is answered with
// [StatusBadRequest] without calling fn), and each Out fn passes to send goes
// out as one response, encoded as [Response.Body] is. send fails as
// [Sender.Send] does. fn reaches the request through [MessageFromContext].
func TypedStream[In, Out any](fn func(ctx context.Context, in In, send func(Out) error) error) Handler {
	return &typedStream[In, Out]{fn: fn}
}

type typedStream[In, Out any] struct {
	fn func(ctx context.Context, in In, send func(Out) error) error
}

func (h *typedStream[In, Out]) ServeRPC(ctx context.Context, m *Message) (*Response, error) {
	if m.stream == nil {
		return nil, &RemoteError{Code: StatusBadRequest, Message: msgStreaming}
	}
	in, err := decodeRequest[In](m)
	if err != nil {
		return nil, &RemoteError{Code: StatusBadRequest, Message: msgDecode, cause: err}
	}
	s := m.stream
	return nil, h.fn(context.WithValue(ctx, messageKey{}, m), in, func(out Out) error { return s.Send(out) })
}

func (*typedStream[In, Out]) streaming() {}

func (*typedStream[In, Out]) schemas() (request, response string) {
	return typeName[In](), typeName[Out]()
}

func (*typedStream[In, Out]) types() (request, response reflect.Type) {
	return typeOf[In](), typeOf[Out]()
}

// streamer is implemented by the handlers that stream their responses.
type streamer interface{ streaming() }

// isStreaming reports whether h streams its responses.
func isStreaming(h Handler) bool {
	_, ok := h.(streamer)
	return ok
}
