package bench

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// routingShape is how the handlers of BenchmarkRouting are laid out: their
// patterns, and a topic that handler i alone serves.
type routingShape struct {
	name    string
	pattern func(i int) string
	topic   func(i int) string
}

var routingShapes = []routingShape{
	// One level among many siblings: the widest node of the tree.
	{"exact", func(i int) string { return "dev/" + strconv.Itoa(i) + "/cmd" },
		func(i int) string { return "dev/" + strconv.Itoa(i) + "/cmd" }},
	// A {id} level under each of many roots.
	{"pattern", func(i int) string { return "svc" + strconv.Itoa(i) + "/{id}/cmd" },
		func(i int) string { return "svc" + strconv.Itoa(i) + "/42/cmd" }},
}

var routingHandlers = []int{1, 1000, 10000, 100000}

// BenchmarkRouting measures what the number of handlers a Broker serves
// costs, on a fresh embedded broker per case so that no case inherits
// another's subscriptions:
//
//   - op=register: one op registers n handlers one after another; µs/handler
//     is the time per handler and B/handler the heap each one adds to the
//     process, library and embedded broker together, after a GC;
//   - op=register-concurrent: the same from 64 callers at once, whose
//     SUBSCRIBEs are in flight together;
//   - op=roundtrip: one sequential request → reply to a handler among n,
//     a different one each time.
//
// Run it with -benchtime=1x for op=register*: one op is all n handlers.
func BenchmarkRouting(b *testing.B) {
	b.Run("broker=mochi", func(b *testing.B) {
		for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
			b.Run("v="+v.String(), func(b *testing.B) {
				for _, shape := range routingShapes {
					b.Run("topics="+shape.name, func(b *testing.B) {
						for _, n := range routingHandlers {
							b.Run(fmt.Sprintf("handlers=%d", n), func(b *testing.B) {
								b.Run("op=register", func(b *testing.B) { benchRegister(b, v, shape, n, 1) })
								b.Run("op=register-concurrent", func(b *testing.B) { benchRegister(b, v, shape, n, 64) })
								b.Run("op=roundtrip", func(b *testing.B) { benchRouteTrip(b, v, shape, n) })
							})
						}
					})
				}
			})
		}
	})
}

// routingSetup is a fresh embedded broker with a responder on it, and a
// requester once connectRequester has made one.
type routingSetup struct {
	v         mqttrpc.Version
	srv       *embedded.Server
	responder *mqttrpc.Broker
	requester *mqttrpc.Broker
	reply     string // where the 3.1.1 handlers reply
	handler   mqttrpc.Handler
	opts      []mqttrpc.SubscribeOption
}

func newRoutingSetup(tb testing.TB, v mqttrpc.Version) *routingSetup {
	srv, err := embedded.Start()
	if err != nil {
		tb.Fatal(err)
	}
	s := &routingSetup{v: v, srv: srv, reply: "rep/" + token()}
	// The only cleanup, and it reaches the Brokers and the server through s
	// alone, which closeRouting empties. The testing package keeps the *B of
	// a benchmark's first -count repetition, with the cleanups it has run,
	// until the last repetition is over: a cleanup holding the responder
	// itself (as connectMQTTRPC's does) kept its 100,000 handlers, 108 MB,
	// live through every later repetition.
	tb.Cleanup(func() { closeRouting(tb, s) })
	s.responder, err = mqttrpc.Connect(context.Background(), srv.URL(), mqttrpc.WithVersion(v))
	if err != nil {
		tb.Fatal(err)
	}
	s.handler = mqttrpc.HandlerFunc(echoV5)
	if v == mqttrpc.V311 {
		// No Response Topic: the handler replies to the one topic its
		// requester waits on.
		s.handler = mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			return nil, s.responder.Publish(ctx, s.reply, m.Body, mqttrpc.QoS(m.QoS))
		})
		s.opts = []mqttrpc.SubscribeOption{mqttrpc.NoReply()}
	}
	return s
}

// register registers handlers 0 to n-1 of shape from callers goroutines.
func (s *routingSetup) register(tb testing.TB, shape routingShape, n, callers int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() { // ends when every handler is registered or one fails
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if _, err := s.responder.Subscriber(context.Background(), shape.pattern(i), s.handler, s.opts...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
}

func benchRegister(b *testing.B, v mqttrpc.Version, shape routingShape, n, callers int) {
	var total time.Duration
	var heap float64
	for range b.N {
		b.StopTimer()
		s := newRoutingSetup(b, v)
		before := heapInUse()
		b.StartTimer()
		start := time.Now()
		s.register(b, shape, n, callers)
		total += time.Since(start)
		b.StopTimer()
		heap += float64(heapInUse()-before) / float64(n)
		closeRouting(b, s)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n*b.N), "µs/handler")
	b.ReportMetric(heap/float64(b.N), "B/handler")
}

// connectRequester connects the setup's requester.
func (s *routingSetup) connectRequester(tb testing.TB) *mqttrpc.Broker {
	var err error
	s.requester, err = mqttrpc.Connect(context.Background(), s.srv.URL(), mqttrpc.WithVersion(s.v))
	if err != nil {
		tb.Fatal(err)
	}
	return s.requester
}

// closeRouting closes the Brokers, and then the server, so that each Broker
// says goodbye while the server is there; and forgets them, so that the
// next iteration starts from an empty process (see newRoutingSetup). A
// second call does nothing.
func closeRouting(tb testing.TB, s *routingSetup) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		name string
		b    *mqttrpc.Broker
	}{{"requester", s.requester}, {"responder", s.responder}} {
		if c.b == nil {
			continue
		}
		if err := c.b.Close(ctx); err != nil {
			tb.Logf("closing the %s: %v", c.name, err)
		}
	}
	if s.srv != nil {
		_ = s.srv.Close()
	}
	s.srv, s.responder, s.requester, s.handler = nil, nil, nil, nil
}

// heapInUse returns the bytes of live heap after a full collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func benchRouteTrip(b *testing.B, v mqttrpc.Version, shape routingShape, n int) {
	s := newRoutingSetup(b, v)
	s.register(b, shape, n, 64)
	requester := s.connectRequester(b)
	var opts []mqttrpc.RequestOption
	if v == mqttrpc.V311 {
		opts = append(opts, mqttrpc.ReplyTo(s.reply))
	}
	// Topics made before the timer starts, and visited in a scattered order,
	// so that each request finds its handler somewhere else in the table.
	topics := make([]string, n)
	for i := range topics {
		topics[i] = shape.topic(i * 7919 % n)
	}
	payload := []byte("0123456789abcdef")
	ctx := context.Background()
	// Registering n handlers leaves a heap of hundreds of MB, and a
	// collection of it may still be marking and sweeping when registration
	// returns: at 100,000 handlers its mark took 2–7 s of this 2-core
	// machine, far longer than the 2,000 round trips below. Timed from
	// there, they would measure whether that collection happened to overlap
	// them, not the routing. Collected now, the round trips, which allocate
	// little, run without a collection.
	runtime.GC()
	i := 0
	for b.Loop() {
		m, err := requester.Request(ctx, topics[i%n], payload, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Body) != len(payload) {
			b.Fatalf("reply has %d bytes, want %d", len(m.Body), len(payload))
		}
		i++
	}
}
