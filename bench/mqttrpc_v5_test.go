package bench

import (
	"context"
	"testing"

	"github.com/mqttrpc/mqttrpc"
)

// setupMQTTRPCv5 is mqttrpc on MQTT 5: the requester waits on its private
// inbox, the responder echoes through a plain HandlerFunc.
func setupMQTTRPCv5(tb testing.TB, url string, qos byte) func(int) callFunc {
	responder := connectMQTTRPC(tb, url, mqttrpc.V5)
	requester := connectMQTTRPC(tb, url, mqttrpc.V5)
	topic := "bench/" + token() + "/echo"
	if _, err := responder.Subscriber(context.Background(), topic, mqttrpc.HandlerFunc(echoV5), mqttrpc.QoS(qos)); err != nil {
		tb.Fatal(err)
	}
	// Made once, not per call: a user holds options the same way.
	q := mqttrpc.QoS(qos)
	call := func(ctx context.Context, payload []byte) ([]byte, error) {
		m, err := requester.Request(ctx, topic, payload, q)
		if err != nil {
			return nil, err
		}
		return m.Body, nil
	}
	return func(int) callFunc { return call }
}

// echoV5 replies with the request's payload at the request's QoS. A
// HandlerFunc rather than Typed[[]byte, []byte], which would copy the payload.
func echoV5(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
	return &mqttrpc.Response{Body: m.Body}, nil
}

func connectMQTTRPC(tb testing.TB, url string, v mqttrpc.Version) *mqttrpc.Broker {
	b, err := mqttrpc.Connect(context.Background(), url, mqttrpc.WithVersion(v))
	if err != nil {
		tb.Fatal(err)
	}
	cleanupClose(tb, "mqttrpc", b.Close)
	return b
}
