package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqttrpc/mqttrpc"
)

// Exit codes, one for each outcome a script may want to tell apart; README.md
// lists them.
const (
	exitOK           = 0   // the reply came (every reply, with --count); an instance answered discovery; serve and broker stopped on a signal
	exitRemoteError  = 1   // the handler answered with an error reply: its code and message are on stderr
	exitUsage        = 2   // bad flags or arguments, a topic, pattern or service the library rejects
	exitTimeout      = 3   // no reply before the timeout; no instance answered discovery within it
	exitNoResponders = 4   // the MQTT 5 broker said that nobody subscribes to the topic (QoS 1 and 2)
	exitConnection   = 5   // no connection to the MQTT broker, or the broker refused the client or a packet
	exitFailure      = 6   // anything else: a file that cannot be read, a drain that ran out of time, a discovery that dropped replies
	exitInterrupted  = 130 // SIGINT or SIGTERM ended a call before its reply came
)

// usageError is a mistake in a command's flags or arguments.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usageError with a message formatted as by fmt.Sprintf.
func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// reported is an error the command has written on stderr already: run
// only turns it into an exit code.
type reported struct{ err error }

func (e reported) Error() string { return e.err.Error() }
func (e reported) Unwrap() error { return e.err }

// connectError is a failure to connect to the MQTT broker.
type connectError struct{ err error }

func (e connectError) Error() string { return e.err.Error() }
func (e connectError) Unwrap() error { return e.err }

// exitCode returns the exit code for err, which a command returned.
func exitCode(err error) int {
	var (
		remote *mqttrpc.RemoteError
		usage  usageError
		conn   connectError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage),
		errors.Is(err, mqttrpc.ErrInvalidTopic),
		errors.Is(err, mqttrpc.ErrInvalidService),
		errors.Is(err, mqttrpc.ErrFeatureNotSupported):
		return exitUsage
	case errors.As(err, &remote):
		return exitRemoteError
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &conn),
		errors.Is(err, mqttrpc.ErrRefused),
		errors.Is(err, mqttrpc.ErrDisconnected),
		errors.Is(err, mqttrpc.ErrClosed):
		return exitConnection
	case errors.Is(err, mqttrpc.ErrTimeout):
		return exitTimeout
	case errors.Is(err, mqttrpc.ErrNoResponders):
		return exitNoResponders
	default:
		return exitFailure
	}
}
