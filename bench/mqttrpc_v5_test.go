package bench

import (
	"context"
	"os"
	"testing"

	"github.com/mqttrpc/mqttrpc"
)

// setupMQTTRPCv5 is mqttrpc on MQTT 5: the requester waits on its private
// inbox, the responder echoes through a plain HandlerFunc.
func setupMQTTRPCv5(tb testing.TB, url string, qos byte) func(int) callFunc {
	responder := connectMQTTRPC(tb, url, mqttrpc.V5)
	requester := connectMQTTRPC(tb, url, mqttrpc.V5)
	topic := "bench/" + token() + "/echo"
	serve(tb, responder, topic, mqttrpc.HandlerFunc(echoV5), mqttrpc.QoS(qos))
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

// discovery runs the mqttrpc responders as the endpoint of a Service, which
// answers discovery and counts its requests, instead of as a plain
// Subscriber: BENCH_DISCOVERY=1, or DISCOVERY=1 for run.sh.
var discovery = os.Getenv("BENCH_DISCOVERY") == "1"

// serve subscribes h to pattern on b: as a Subscriber, or as the endpoint of
// a Service when discovery is on.
func serve(tb testing.TB, b *mqttrpc.Broker, pattern string, h mqttrpc.Handler, opts ...mqttrpc.SubscribeOption) {
	ctx := context.Background()
	if !discovery {
		if _, err := b.Subscriber(ctx, pattern, h, opts...); err != nil {
			tb.Fatal(err)
		}
		return
	}
	svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "bench", Version: "1.0.0"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.Endpoint(ctx, "echo", pattern, h, opts...); err != nil {
		tb.Fatal(err)
	}
}

func connectMQTTRPC(tb testing.TB, url string, v mqttrpc.Version) *mqttrpc.Broker {
	b, err := mqttrpc.Connect(context.Background(), url, mqttrpc.WithVersion(v))
	if err != nil {
		tb.Fatal(err)
	}
	cleanupClose(tb, "mqttrpc", b.Close)
	return b
}
