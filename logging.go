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
			status, level := 200, slog.LevelInfo
			if err != nil {
				status, level = remoteErrorFrom(err, false).Code, slog.LevelDebug
				if status >= 500 {
					level = slog.LevelWarn
				}
			}
			log.Log(ctx, level, "mqttrpc: request", "topic", m.Topic, "status", status, "duration", time.Since(start), "err", err)
			return resp, err
		})
	}
}
