package mqttrpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Errors returned by the Broker. Each names who returns it; compare with [errors.Is].
var (
	// ErrTimeout is returned by [Broker.Request] when no reply came before the
	// request's deadline. It wraps [context.DeadlineExceeded], so
	// errors.Is(err, context.DeadlineExceeded) holds as well.
	ErrTimeout = fmt.Errorf("mqttrpc: request timed out: %w", context.DeadlineExceeded)

	// ErrNoResponders is returned by [Broker.Request] when the MQTT 5 broker
	// acknowledges a QoS 1 or 2 request with reason code 0x10 (no matching
	// subscribers): nobody can answer, so the caller learns it at once.
	ErrNoResponders = errors.New("mqttrpc: no responders")

	// ErrFeatureNotSupported is returned when a call needs a protocol feature the
	// connection lacks: chiefly [Broker.Request] on MQTT 3.1.1 without [ReplyTo],
	// since 3.1.1 has no Response Topic property, and a [Shared] or wildcard
	// subscription on an MQTT 5 broker whose CONNACK says it offers none.
	ErrFeatureNotSupported = errors.New("mqttrpc: feature not supported by this protocol version")

	// ErrClosed is returned by every call on a Broker that is closed, and by
	// requests still waiting for a reply when [Broker.Close] ends them.
	ErrClosed = errors.New("mqttrpc: broker closed")

	// ErrDisconnected is returned by a call that needed the connection while
	// it was down. The Broker reconnects by itself; the call may be retried.
	ErrDisconnected = errors.New("mqttrpc: not connected to the MQTT broker")

	// ErrInvalidTopic is returned when a topic or topic filter is not valid
	// for its use: wildcards or empty levels in a topic to publish to, a
	// malformed filter for a subscriber.
	ErrInvalidTopic = errors.New("mqttrpc: invalid topic")

	// ErrRefused is returned when the MQTT broker refuses a subscribe or a
	// publish with a failure reason code (for example 0x87, not authorized).
	ErrRefused = errors.New("mqttrpc: refused by the MQTT broker")
)

// Status codes carried in the __stat user property of an error reply. They
// follow HTTP, as the Azure IoT Operations MQTT RPC protocol does.
const (
	StatusBadRequest         = 400 // the payload could not be decoded
	StatusNotFound           = 404 // no handler serves the request's topic
	StatusRequestTimeout     = 408 // the handler ran past its deadline or execution timeout
	StatusPayloadTooLarge    = 413 // the payload exceeds the subscriber's MaxPayload
	StatusInternalError      = 500 // the handler returned an error or panicked
	StatusServiceUnavailable = 503 // the handler is overloaded or shutting down
)

// RemoteError is an error carried by a reply: the handler failed and said so
// with the __stat and __stMsg user properties. [Broker.Request] returns it
// (use [errors.As]); a handler returns one, usually through [Errorf], to choose
// the status code and the message its caller sees.
type RemoteError struct {
	Code    int    // HTTP-like status code, from __stat
	Message string // human-readable description, from __stMsg

	cause error // what went wrong, for the responder's log; never sent
}

// Errorf returns a *RemoteError with the given status code and a message
// formatted as by [fmt.Sprintf]. A handler returns it to reply with that code
// and exactly that message; any other error a handler returns is sent as
// [StatusInternalError] with a generic message (see [WithErrorDetails]).
func Errorf(code int, format string, args ...any) *RemoteError {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error returns the status code and message.
func (e *RemoteError) Error() string {
	return "mqttrpc: remote error " + strconv.Itoa(e.Code) + ": " + e.Message
}

// Unwrap returns the local cause of an error reply built by the Broker
// (a decoding error, say); nil for one that came over the wire.
func (e *RemoteError) Unwrap() error { return e.cause }

// Messages of the error replies the Broker makes for errors that are not a
// *RemoteError: they say what happened without the details (Go types, panic
// values, internal text), which go to the responder's log instead.
const (
	msgInternal = "internal error"
	msgTimeout  = "handler timed out"
	msgShutdown = "service shutting down"
	msgDecode   = "payload does not decode"
)

// remoteErrorFrom turns what a handler returned into the error its caller will
// see: a *RemoteError anywhere in the chain keeps its code and message, a
// deadline is a 408, a cancellation (the Broker closing) a 503, and anything
// else a 500 with a generic message. details adds the local cause to the
// message, for development.
func remoteErrorFrom(err error, details bool) *RemoteError {
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		if details && re.cause != nil {
			return &RemoteError{Code: re.Code, Message: re.Message + ": " + re.cause.Error()}
		}
		return re
	case errors.Is(err, context.DeadlineExceeded):
		re = &RemoteError{Code: StatusRequestTimeout, Message: msgTimeout}
	case errors.Is(err, context.Canceled):
		re = &RemoteError{Code: StatusServiceUnavailable, Message: msgShutdown}
	default:
		re = &RemoteError{Code: StatusInternalError, Message: msgInternal}
	}
	if details {
		re.Message += ": " + err.Error()
	}
	return re
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
