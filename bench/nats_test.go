package bench

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
)

// setupNATS is NATS core request/reply, a cross-protocol reference: the
// requester uses nats.go's shared reply inbox (one wildcard subscription, a
// map of tokens: the design mqttrpc follows on MQTT 5), the responder echoes.
func setupNATS(tb testing.TB, url string) func(int) callFunc {
	responder := connectNATS(tb, url)
	requester := connectNATS(tb, url)
	subject := "bench." + token() + ".echo"
	if _, err := responder.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		tb.Fatal(err)
	}
	// Make sure the server has the subscription before the first request.
	if err := responder.Flush(); err != nil {
		tb.Fatal(err)
	}
	call := func(ctx context.Context, payload []byte) ([]byte, error) {
		m, err := requester.RequestWithContext(ctx, subject, payload)
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}
	return func(int) callFunc { return call }
}

func connectNATS(tb testing.TB, url string) *nats.Conn {
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
