package mqttrpc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// recoverPanics turns a panic in the chain below into a 500 error reply with
// a generic message; the panic value and stack go to log. It runs outermost,
// so a panicking middleware is caught too.
func recoverPanics(log *slog.Logger, counted func()) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) (resp *Response, err error) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				counted()
				log.Error("mqttrpc: handler panicked", "topic", m.Topic, "panic", v, "stack", string(debug.Stack()))
				resp, err = nil, &RemoteError{Code: StatusInternalError, Message: msgInternal, cause: panicked{v}}
			}()
			return next.ServeRPC(ctx, m)
		})
	}
}

// panicked is the cause of the error reply to a handler that panicked with
// value.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }
