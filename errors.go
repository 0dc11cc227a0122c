package mqttrpc

import (
	"context"
	"errors"
	"fmt"
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
