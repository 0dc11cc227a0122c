package mqttrpc

import (
	"context"
	"time"
)

// Served describes one request a handler has served, for metrics: see
// [WithServedHook].
type Served struct {
	Pattern  string        // the subscriber's pattern: a label of bounded cardinality, unlike Topic
	Topic    string        // the topic the request came on
	Service  string        // the [Service] name, for an endpoint; "" otherwise
	Endpoint string        // the endpoint name, for an endpoint; "" otherwise
	Status   int           // 200, or the status of the error reply (see [StatusCode])
	Err      error         // what the chain returned; nil on success
	Duration time.Duration // from entering the subscriber's chain to its return
}

// StatusCode returns the status a handler's caller is answered with when the
// handler returns err: 200 for nil, the code of a *[RemoteError] in err's
// chain, 408 for a deadline, 503 for a cancellation, and 500 otherwise.
func StatusCode(err error) int {
	if err == nil {
		return 200
	}
	return remoteErrorFrom(err, false).Code
}

// observe measures the chain below: for the endpoint's statistics and for
// the Broker's served hook. The chain includes it only where either is set.
func (s *Subscription) observe(next Handler) Handler {
	ep, hook, details := s.opts.endpoint, s.b.cfg.servedHook, s.b.cfg.errorDetails
	var service, endpoint string
	if ep != nil {
		service, endpoint = ep.names()
	}
	return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
		start := time.Now()
		resp, err := next.ServeRPC(ctx, m)
		d := time.Since(start)
		if ep != nil {
			ep.record(d, err, details)
		}
		if hook != nil {
			hook(ctx, Served{Pattern: s.raw, Topic: m.Topic, Service: service, Endpoint: endpoint,
				Status: StatusCode(err), Err: err, Duration: d})
		}
		return resp, err
	})
}
