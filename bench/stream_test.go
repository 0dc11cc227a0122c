package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

// streamBrokers are the brokers the stream benchmarks run on.
func streamBrokers(b *testing.B) map[string]string {
	return map[string]string{"mochi": mochiURL(b), "mosquitto": mosquittoStock.url(b)}
}

func connectBench(tb testing.TB, url string) *mqttrpc.Broker {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, err := mqttrpc.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	cleanupClose(tb, "broker", br.Close)
	return br
}

// BenchmarkStreamThroughput measures responses per second from one
// streaming handler to one caller, QoS 1, at 16 B and 1 KiB.
func BenchmarkStreamThroughput(b *testing.B) {
	for name, url := range streamBrokers(b) {
		for _, size := range []int{16, 1024} {
			b.Run(fmt.Sprintf("%s/%dB", name, size), func(b *testing.B) {
				server, client := connectBench(b, url), connectBench(b, url)
				topic := "bench/" + token() + "/stream"
				payload := make([]byte, size)
				ctx := context.Background()
				_, err := server.Subscriber(ctx, topic, mqttrpc.TypedStream(func(_ context.Context, n int, send func([]byte) error) error {
					for range n {
						if err := send(payload); err != nil {
							return err
						}
					}
					return nil
				}), mqttrpc.QoS(1))
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				start := time.Now()
				got := 0
				for _, err := range client.Stream(ctx, topic, b.N, mqttrpc.QoS(1), mqttrpc.IdleTimeout(30*time.Second)) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != b.N {
					b.Fatalf("got %d of %d", got, b.N)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "responses/s")
			})
		}
	}
}

// BenchmarkCancelLatency measures the time from a caller's cancel to its
// handler's context ending, for a plain request, and reports its p50 and p99.
func BenchmarkCancelLatency(b *testing.B) {
	for name, url := range streamBrokers(b) {
		b.Run(name, func(b *testing.B) {
			server, client := connectBench(b, url), connectBench(b, url)
			topic := "bench/" + token() + "/cancel"
			started, ended := make(chan struct{}), make(chan time.Time)
			_, err := server.Subscriber(context.Background(), topic, mqttrpc.HandlerFunc(func(ctx context.Context, _ *mqttrpc.Message) (*mqttrpc.Response, error) {
				started <- struct{}{}
				<-ctx.Done()
				ended <- time.Now()
				return nil, nil
			}), mqttrpc.QoS(1))
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				ctx, cancel := context.WithCancel(context.Background())
				go func() { _, _ = client.Request(ctx, topic, nil, mqttrpc.QoS(1), mqttrpc.Timeout(time.Minute)) }()
				<-started
				at := time.Now()
				cancel()
				lat = append(lat, (<-ended).Sub(at))
			}
			slices.Sort(lat)
			b.ReportMetric(micros(percentile(lat, 0.50)), "p50-µs")
			b.ReportMetric(micros(percentile(lat, 0.99)), "p99-µs")
		})
	}
}
