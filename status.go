package mqttrpc

// The wire status of a reply, in one place: an error reply carries an
// HTTP-like code in the user property __stat and a message in __stMsg, the
// convention of the Azure IoT Operations MQTT RPC protocol. A reply without
// __stat, or with a 2xx code, is a success.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Reserved user properties of an error reply.
const (
	headerStatus        = "__stat"
	headerStatusMessage = "__stMsg"
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
	return "remote error " + strconv.Itoa(e.Code) + ": " + e.Message
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

// statusHeaders are the user properties that carry re in an error reply.
func statusHeaders(re *RemoteError) map[string]string {
	return map[string]string{headerStatus: strconv.Itoa(re.Code), headerStatusMessage: re.Message}
}

// replyError returns the *RemoteError a reply carries in __stat and __stMsg,
// or nil if it reports success (or nothing).
func replyError(m *Message) error {
	stat, ok := m.Headers[headerStatus]
	if !ok {
		return nil
	}
	code, err := strconv.Atoi(stat)
	if err == nil && code >= 200 && code < 300 {
		return nil
	}
	if err != nil {
		code = StatusInternalError
	}
	return &RemoteError{Code: code, Message: m.Headers[headerStatusMessage]}
}
