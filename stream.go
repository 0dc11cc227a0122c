package mqttrpc

// The wire of streamed responses and of cancellation, in one place. It
// follows the Azure IoT Operations design for RPC streaming (ADR 25 of
// Azure/iot-operations-sdks), restricted to what mqttrpc does: one request,
// any number of responses.
//
// Every message of a streaming call carries the user property __stream:
//
//	d:<index>[:<timeout s>]        a data entry (request or response)
//	c:<index>:last[:<timeout s>]   the standalone end of a stream, no payload
//	s:<index>[:<timeout s>]        a status; __stat/__stMsg say which
//
// The timeout, the caller's remaining time in whole seconds, travels on
// request-direction messages only. Data and control entries share one
// counter per direction, so the "last" of a stream of n responses is c:n:last.
//
// A streaming request is an ordinary request (Response Topic, Correlation
// Data) with __stream d:0, followed on the same topic by c:1:last, which ends
// the one-entry request stream. Each response goes to the Response Topic with
// the same Correlation Data and __stream d:0, d:1, …; the handler's return
// ends the stream with c:<n>:last, or, if it failed, with a status s:0
// carrying __stat and __stMsg as an error reply does.
//
// A cancel is a status with __stat 499 (Canceled), __stream s:0 (s:0:<t> on
// the request topic), no payload, on the topic the other side listens to: the
// caller publishes it to the request topic with the request's Response Topic
// and Correlation Data. It works for plain requests too, and the executor
// answers a cancelled call with a final 499 status: s:0 for a stream, an
// error reply for a plain request.

import (
	"strconv"
	"strings"
	"time"
)

// headerStream is the user property that marks a streaming message.
const headerStream = "__stream"

// StatusCanceled is the status a cancelled call ends with: the caller gave up
// and said so (see [Broker.Stream] and [Broker.Request]). It is the 499
// (Canceled) of the Azure IoT Operations RPC protocol.
const StatusCanceled = 499

// Kinds of a __stream value.
const (
	streamData    = 'd'
	streamControl = 'c'
	streamStatus  = 's'
)

// streamTag is a parsed __stream value.
type streamTag struct {
	kind  byte // streamData, streamControl or streamStatus; 0 if malformed
	index uint64
	last  bool // a control entry saying "last"
}

// parseStreamTag parses a __stream value; the result's kind is 0 if v is
// malformed. A timeout, if present, is not needed by mqttrpc (the request's
// Message Expiry Interval gives the handler its deadline) and is skipped.
func parseStreamTag(v string) streamTag {
	if len(v) < 3 || v[1] != ':' {
		return streamTag{}
	}
	kind, rest := v[0], v[2:]
	idx, rest, _ := strings.Cut(rest, ":")
	n, err := strconv.ParseUint(idx, 10, 32)
	if err != nil {
		return streamTag{}
	}
	t := streamTag{kind: kind, index: n}
	switch kind {
	case streamData, streamStatus:
	case streamControl:
		word, _, _ := strings.Cut(rest, ":")
		if word != "last" {
			return streamTag{}
		}
		t.last = true
	default:
		return streamTag{}
	}
	return t
}

// streamValue formats a __stream value; timeout, if positive, is appended
// in whole seconds (rounded up, so that a caller with 300 ms left does not
// say 0).
func streamValue(kind byte, index uint64, timeout time.Duration) string {
	b := make([]byte, 0, 24)
	b = append(b, kind, ':')
	b = strconv.AppendUint(b, index, 10)
	if kind == streamControl {
		b = append(b, ":last"...)
	}
	if timeout > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64((timeout+time.Second-1)/time.Second), 10)
	}
	return string(b)
}
