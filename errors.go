package mqttrpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OpError is the error of every Broker call that fails: what it did, on
// which topic, and why. Err is exactly one of the sentinels below, a
// *[RemoteError], or [context.Canceled]; Cause, when known, is what lay
// beneath it (a reason code, a network or decoding error, or, for a
// request that timed out while the connection was down, [ErrDisconnected]).
// [errors.Is] and [errors.As] see both:
//
//	if errors.Is(err, mqttrpc.ErrTimeout) { … }
//	var re *mqttrpc.RemoteError
//	if errors.As(err, &re) { … re.Code … }
type OpError struct {
	Op    string // "connect", "publish", "request", "subscribe", "unsubscribe", "gather", "discover", "service", "decode", "stream", "send"
	Topic string // the topic, filter, pattern or server it concerns; "" if none
	Err   error
	Cause error // nil if Err says it all
}

// Error returns "mqttrpc: op "topic": err: cause".
func (e *OpError) Error() string {
	var sb strings.Builder
	sb.WriteString("mqttrpc: ")
	sb.WriteString(e.Op)
	if e.Topic != "" {
		sb.WriteByte(' ')
		sb.WriteString(strconv.Quote(e.Topic))
	}
	sb.WriteString(": ")
	sb.WriteString(e.Err.Error())
	if e.Cause != nil {
		sb.WriteString(": ")
		sb.WriteString(e.Cause.Error())
	}
	return sb.String()
}

// Unwrap returns Err and, if there is one, Cause.
func (e *OpError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// The sentinels an [OpError] wraps, one each; compare with [errors.Is].
var (
	// ErrTimeout: no reply came, or the call could not be made, before its
	// deadline. It wraps [context.DeadlineExceeded], so
	// errors.Is(err, context.DeadlineExceeded) holds as well.
	ErrTimeout = fmt.Errorf("timed out: %w", context.DeadlineExceeded)

	// ErrNoResponders: the MQTT 5 broker acknowledged a QoS 1 or 2 request
	// with reason code 0x10 (no matching subscribers): nobody can answer,
	// so the caller learns it at once.
	ErrNoResponders = errors.New("no responders")

	// ErrFeatureNotSupported: the call needs a protocol feature the
	// connection lacks: chiefly [Broker.Request] on MQTT 3.1.1 without
	// [TokenReply] or [ReplyTo], since 3.1.1 has no Response Topic, and a
	// [Shared] or wildcard subscription on an MQTT 5 broker whose CONNACK
	// says it offers none.
	ErrFeatureNotSupported = errors.New("feature not supported by this protocol version")

	// ErrClosed: the Broker is closed, or closed while the call waited.
	ErrClosed = errors.New("broker closed")

	// ErrDisconnected: the call needed the connection while it was down, or
	// the connection failed under it. The Broker reconnects by itself; the
	// call may be retried.
	ErrDisconnected = errors.New("not connected to the MQTT broker")

	// ErrInvalidTopic: a topic, filter or pattern is not valid for its use:
	// wildcards or empty levels in a topic to publish to, a malformed
	// filter, a reply topic that would make handlers answer each other.
	ErrInvalidTopic = errors.New("invalid topic")

	// ErrInvalidArgument: an option or argument is out of range: a QoS
	// above 2, a nil handler, a negative limit, a broker URL that does not
	// parse.
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrHandlerExists: [Broker.Subscriber] was given a pattern whose filter
	// already has a handler on this Broker.
	ErrHandlerExists = errors.New("filter already has a handler")

	// ErrRefused: the MQTT broker refused a connection, subscribe or
	// publish with a failure reason code (for example 0x87, not
	// authorized), or a TLS handshake failed for good.
	ErrRefused = errors.New("refused by the MQTT broker")

	// ErrRepliesDropped: a [Broker.Gather] or [Discover] dropped replies that
	// came while more than its buffer (see [ReplyBuffer]) waited for its
	// loop; the error says how many.
	ErrRepliesDropped = errors.New("replies dropped")

	// ErrEncoding: a body does not encode, or a payload does not decode
	// into the type asked for.
	ErrEncoding = errors.New("payload encoding")

	// ErrInvalidService: [Broker.Service] or [Service.Endpoint] was given a
	// configuration it cannot serve.
	ErrInvalidService = errors.New("invalid service")

	// ErrServiceStopped: [Service.Endpoint] was called after [Service.Stop].
	ErrServiceStopped = errors.New("service stopped")

	// ErrCallerCanceled is the cause ([context.Cause]) with which a handler's
	// context ends when its caller cancelled the call: its context ended, or it
	// stopped iterating a [Broker.Stream]. The call's caller then no longer reads
	// the answer; the Broker answers it with [StatusCanceled] all the same.
	ErrCallerCanceled = errors.New("the caller cancelled the call")

	// ErrStreamBroken: a [Broker.Stream] lost a response for good (the
	// cause names its index), or its loop fell too far behind the
	// responses coming in.
	ErrStreamBroken = errors.New("stream broken")
)

// sentinels lists what an OpError's Err may be, most telling first.
var sentinels = []error{
	ErrClosed, ErrRefused, ErrNoResponders, ErrTimeout, ErrDisconnected,
	ErrFeatureNotSupported, ErrHandlerExists, ErrInvalidTopic, ErrInvalidService,
	ErrServiceStopped, ErrStreamBroken, ErrInvalidArgument, ErrEncoding, ErrRepliesDropped, context.Canceled,
}

// failure is an error inside the package: a sentinel and what lay beneath
// it, which opError turns into the OpError a caller sees.
type failure struct{ err, cause error }

func (f *failure) Error() string {
	if f.cause == nil {
		return f.err.Error()
	}
	return f.err.Error() + ": " + f.cause.Error()
}

func (f *failure) Unwrap() []error {
	if f.cause == nil {
		return []error{f.err}
	}
	return []error{f.err, f.cause}
}

// fail returns the sentinel err, with a cause formatted as by fmt.Errorf.
func fail(err error, format string, args ...any) error {
	return &failure{err: err, cause: fmt.Errorf(format, args...)}
}

// failWith returns the sentinel err with cause beneath it.
func failWith(err, cause error) error {
	return &failure{err: err, cause: cause}
}

// opError names op and topic in err: the one shape of the errors Broker
// calls return. An OpError passes as it is; a deadline becomes ErrTimeout.
func opError(op, topic string, err error) error {
	var oe *OpError
	if err == nil || errors.As(err, &oe) {
		return err
	}
	e := &OpError{Op: op, Topic: topic}
	var f *failure
	var re *RemoteError
	switch {
	case errors.As(err, &f):
		e.Err, e.Cause = f.err, f.cause
	case errors.As(err, &re):
		e.Err = re
	default:
		e.Err = ErrDisconnected // what the Paho clients and the network report
		for _, s := range sentinels {
			if errors.Is(err, s) {
				e.Err = s
				break
			}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			e.Err = ErrTimeout
		}
		if err != e.Err && err != context.DeadlineExceeded {
			e.Cause = err
		}
	}
	return e
}

// IsRetriable reports whether sending the same call again, as it is, can
// succeed where err failed: the deadline passed ([ErrTimeout]), the
// connection was down or failed under the call ([ErrDisconnected]), nobody
// was subscribed yet ([ErrNoResponders]), or the handler was overloaded or
// ran out of time (a *[RemoteError] with [StatusServiceUnavailable] or
// [StatusRequestTimeout]). A refusal, a closed Broker, an invalid topic, a
// missing feature, a cancelled context and any other handler error are not
// retriable.
//
// A request that timed out or was cut off may have been handled all the
// same: retry only what is safe to repeat, or deduplicate it (see
// [Deduplicate]).
func IsRetriable(err error) bool {
	var re *RemoteError
	switch {
	case err == nil, errors.Is(err, ErrClosed), errors.Is(err, ErrRefused), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrDisconnected), errors.Is(err, ErrNoResponders):
		return true
	case errors.As(err, &re):
		return re.Code == StatusServiceUnavailable || re.Code == StatusRequestTimeout
	}
	return false
}
