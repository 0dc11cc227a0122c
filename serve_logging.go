package mqttrpc

import (
	"context"
	"log/slog"
	"time"
)

// Logging is middleware that logs each request once it is served: its topic,
// the status of the answer (200, or the code of the error reply) and how long
// the handler took, at Info for success, Warn for a 5xx and Debug otherwise.
func Logging(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
			start := time.Now()
			resp, err := next.ServeRPC(ctx, m)
			attrs := []any{"topic", m.Topic, "status", 200, "duration", time.Since(start)}
			level := slog.LevelInfo
			if err != nil {
				status := remoteErrorFrom(err, false).Code
				attrs[3] = status
				attrs = append(attrs, "err", err)
				level = slog.LevelDebug
				if status >= 500 {
					level = slog.LevelWarn
				}
			}
			log.Log(ctx, level, "mqttrpc: request", attrs...)
			return resp, err
		})
	}
}
