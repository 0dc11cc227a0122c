package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

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

// BenchmarkStreamPahoBaseline is what BenchmarkStreamThroughput is measured
// against: bare paho.golang clients, one publishing b.N messages at QoS 1 to
// a topic the other subscribes to at QoS 1, with up to 32 publishes awaiting
// their PUBACK at once, as a stream's handler has (the broker's Receive
// Maximum may allow fewer). Timed from the first publish to the last
// message received.
func BenchmarkStreamPahoBaseline(b *testing.B) {
	const window = 32
	for name, url := range streamBrokers(b) {
		for _, size := range []int{16, 1024} {
			b.Run(fmt.Sprintf("%s/%dB", name, size), func(b *testing.B) {
				topic := "bench/" + token() + "/raw"
				all := make(chan struct{})
				var got atomic.Int64
				n := int64(b.N)
				connectBarePaho(b, url, []paho.SubscribeOptions{{Topic: topic, QoS: 1}}, func(paho.PublishReceived) (bool, error) {
					if got.Add(1) == n {
						close(all)
					}
					return true, nil
				})
				pub := connectBarePaho(b, url, nil, func(paho.PublishReceived) (bool, error) { return true, nil })
				payload := make([]byte, size)
				ctx := context.Background()
				sem := make(chan struct{}, window)
				errs := make(chan error, 1)
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					sem <- struct{}{}
					go func() {
						defer func() { <-sem }()
						if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
							select {
							case errs <- err:
							default:
							}
						}
					}()
				}
				select {
				case <-all:
				case err := <-errs:
					b.Fatal(err)
				case <-time.After(time.Minute):
					b.Fatalf("got %d of %d", got.Load(), b.N)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "responses/s")
				for range window { // the last publishes' goroutines
					sem <- struct{}{}
				}
			})
		}
	}
}

// BenchmarkStreamsOpen opens 10,000 streams at once, QoS 1, each of whose
// handlers sends one response and then waits; once every caller has its
// first response it reports the heap and goroutine stacks per open stream,
// then releases the handlers, each of which sends a last response and ends
// its stream, and checks that all complete. The broker is mosquitto, outside
// this process. "both": mqttrpc handlers and callers, both in this process;
// "caller": mqttrpc callers, and a bare paho client as the executor that
// keeps only each stream's Response Topic and Correlation Data.
func BenchmarkStreamsOpen(b *testing.B) {
	for _, side := range []string{"both", "caller"} {
		b.Run(side, func(b *testing.B) { benchStreamsOpen(b, side == "both") })
	}
}

func benchStreamsOpen(b *testing.B, handlers bool) {
	const streams = 10_000
	url := mosquittoRaised.url(b)
	for range b.N {
		client := connectBench(b, url)
		topic := "bench/" + token() + "/open"
		var release func()
		if handlers {
			release = streamHandlers(b, url, topic, streams)
		} else {
			release = rawStreamExecutor(b, url, topic, streams)
		}
		var before, open runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		goroutines := runtime.NumGoroutine()
		var first, done sync.WaitGroup
		first.Add(streams)
		done.Add(streams)
		var completed, failed atomic.Int64
		for i := range streams {
			go func() {
				defer done.Done()
				n := 0
				for _, err := range mqttrpc.CallStream[int](context.Background(), client, topic, i, mqttrpc.QoS(1), mqttrpc.IdleTimeout(time.Minute)) {
					if err != nil {
						failed.Add(1)
						if n == 0 {
							first.Done()
						}
						return
					}
					if n++; n == 1 {
						first.Done()
					}
				}
				if n == 2 {
					completed.Add(1)
				}
			}()
		}
		first.Wait()
		runtime.GC()
		runtime.ReadMemStats(&open)
		perStream := func(after, before uint64) float64 { return float64(int64(after)-int64(before)) / streams }
		b.ReportMetric(perStream(open.HeapAlloc, before.HeapAlloc), "heap-B/stream")
		b.ReportMetric(perStream(open.StackInuse, before.StackInuse), "stack-B/stream")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/streams, "goroutines/stream")
		release()
		done.Wait()
		if completed.Load() != streams {
			b.Fatalf("%d of %d streams completed, %d failed", completed.Load(), streams, failed.Load())
		}
	}
}

// streamHandlers serves topic with an mqttrpc handler that sends one
// response, waits for the release, then sends one more and ends.
func streamHandlers(b *testing.B, url, topic string, streams int) (release func()) {
	server := connectBench(b, url)
	ch := make(chan struct{})
	_, err := server.Subscriber(context.Background(), topic, mqttrpc.TypedStream(func(ctx context.Context, _ int, send func(int) error) error {
		if err := send(0); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		return send(1)
	}), mqttrpc.QoS(1), mqttrpc.Concurrency(streams), mqttrpc.QueueLimit(streams))
	if err != nil {
		b.Fatal(err)
	}
	return func() { close(ch) }
}

// rawStreamExecutor serves topic on a bare paho client, on the streaming
// wire: d:0 at once for each request, then, on release, d:1 and c:2:last.
func rawStreamExecutor(b *testing.B, url, topic string, streams int) (release func()) {
	type call struct {
		to string
		cd []byte
	}
	var (
		mu    sync.Mutex
		calls = make([]call, 0, streams)
		c     *paho.Client
	)
	publish := func(to string, cd []byte, tag string, body []byte) {
		_, err := c.Publish(context.Background(), &paho.Publish{Topic: to, QoS: 1, Payload: body, Properties: &paho.PublishProperties{
			CorrelationData: cd, User: paho.UserProperties{{Key: "__stream", Value: tag}},
		}})
		if err != nil {
			b.Error(err)
		}
	}
	c = connectBarePaho(b, url, []paho.SubscribeOptions{{Topic: topic, QoS: 1}}, func(pr paho.PublishReceived) (bool, error) {
		p := pr.Packet
		if p.Properties == nil || p.Properties.User.Get("__stream") != "d:0" {
			return true, nil // the request stream's end
		}
		k := call{p.Properties.ResponseTopic, p.Properties.CorrelationData}
		mu.Lock()
		calls = append(calls, k)
		mu.Unlock()
		go publish(k.to, k.cd, "d:0", []byte("0"))
		return true, nil
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for _, k := range calls {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				publish(k.to, k.cd, "d:1", []byte("1"))
				publish(k.to, k.cd, "c:2:last", nil)
			})
		}
		wg.Wait()
	}
}
