package mqttrpc

import "context"

// Call sends a request as [Broker.Request] does and decodes the reply's body
// into an Out, as [Message.Decode] does. A reply that does not decode is an
// error that wraps the decoding error.
func Call[Out any](ctx context.Context, b *Broker, topicName string, body any, opts ...RequestOption) (Out, error) {
	var out Out
	reply, err := b.Request(ctx, topicName, body, opts...)
	if err != nil {
		return out, err
	}
	if err := decode(reply.Body, &out); err != nil {
		return out, opError("decode", topicName, err)
	}
	return out, nil
}
