package mqttrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// burstReplies is how many replies a Gather, or responses a Stream, takes
// in one iteration of the benchmarks below: enough that the caller's queue
// of replies counts, not only the request.
const burstReplies = 64

// BenchmarkGather measures one Gather of burstReplies replies, sent at once
// by one responder, on the embedded broker (whose allocations count too).
func BenchmarkGather(b *testing.B) {
	tg := target{broker: brokertest.Mochi(b), version: mqttrpc.V5}
	srv, cli := connect(b, tg), connect(b, tg)
	topic := uniqueTopic(b, "gather")
	subscribe(b, srv, topic, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		for range burstReplies {
			if err := srv.Publish(ctx, m.ReplyTo, "here", mqttrpc.CorrelationID(m.CorrelationID)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}), mqttrpc.NoReply())
	b.ReportAllocs()
	for b.Loop() {
		got := 0
		for _, err := range cli.Gather(context.Background(), topic, "who", mqttrpc.MaxReplies(burstReplies), mqttrpc.Timeout(10*time.Second)) {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != burstReplies {
			b.Fatalf("got %d of %d replies", got, burstReplies)
		}
	}
}

// BenchmarkStream measures one Stream of burstReplies responses on the
// embedded broker.
func BenchmarkStream(b *testing.B) {
	tg := target{broker: brokertest.Mochi(b), version: mqttrpc.V5}
	srv, cli := connect(b, tg), connect(b, tg)
	topic := uniqueTopic(b, "stream")
	payload := []byte("response")
	subscribe(b, srv, topic, mqttrpc.TypedStream(func(_ context.Context, n int, send func([]byte) error) error {
		for range n {
			if err := send(payload); err != nil {
				return err
			}
		}
		return nil
	}))
	b.ReportAllocs()
	for b.Loop() {
		got := 0
		for _, err := range cli.Stream(context.Background(), topic, burstReplies, mqttrpc.Timeout(10*time.Second)) {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != burstReplies {
			b.Fatalf("got %d of %d responses", got, burstReplies)
		}
	}
}
