package mqttrpc

import (
	"context"
	"time"
)

// executionTimeout bounds the chain below by d: its context ends at d, and
// the caller is answered with a 408 at once, even if the handler ignores its
// context. The handler keeps its concurrency slot until it returns, so a stuck
// handler cannot make the subscriber take unbounded work; what it returns late
// is dropped, as the request has been answered.
func executionTimeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			if m.respond != nil {
				timer := time.AfterFunc(d, func() { // runs only if the handler is late
					m.respond.reply(m, nil, Errorf(StatusRequestTimeout, "handler did not finish within %v", d))
				})
				defer timer.Stop()
			}
			return next.ServeRPC(ctx, m)
		})
	}
}
