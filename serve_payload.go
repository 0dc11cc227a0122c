package mqttrpc

import "context"

// limitPayload answers requests larger than n bytes with a 413 without
// calling the chain below.
func limitPayload(n int) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
			if len(m.Body) > n {
				return nil, Errorf(StatusPayloadTooLarge, "payload of %d bytes exceeds the limit of %d", len(m.Body), n)
			}
			return next.ServeRPC(ctx, m)
		})
	}
}
