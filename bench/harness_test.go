package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// callFunc makes one round trip: it sends payload as a request and returns
// the reply's payload.
type callFunc func(ctx context.Context, payload []byte) ([]byte, error)

// impl is one way of doing request/reply over MQTT.
type impl struct {
	name string
	// lossy marks an implementation known to drop replies now and then: its
	// round trips get lossyTimeout, and one that times out is counted in the
	// lost/op metric instead of failing the benchmark.
	lossy bool
	// setup connects a requester and a responder (two connections, as in a
	// real deployment) to the broker at url, for requests at qos. It returns
	// a factory of per-caller round-trip functions, so that an implementation
	// that needs per-caller state (a reply topic on MQTT 3.1.1) can keep it.
	setup func(tb testing.TB, url string, qos byte) (newCaller func(i int) callFunc)
}

// mqttImpls are compared on every MQTT broker.
var mqttImpls = []impl{
	{"mqttrpc-v5", false, setupMQTTRPCv5},
	{"paho-v5", false, setupPahoV5},
	{"autopaho-v5", false, setupAutopahoV5},
	// Request registers an unbuffered channel and the reply is handed over
	// with a non-blocking send, so a reply that arrives before the caller is
	// back from Publish and in its select is dropped.
	{"paho-rpc", true, setupPahoRPC},
	{"mqttrpc-v311", false, setupMQTTRPCv311},
	{"paho-v311", false, setupPahoV311},
}

var (
	qosLevels   = []byte{0, 1}
	sizes       = []int{16, 1024, 64 << 10}
	callerCount = []int{1, 64}
)

// callTimeout bounds each round trip. Every implementation gets a context
// with its own deadline per call, as a real caller's request would have.
const callTimeout = 10 * time.Second

// lossyTimeout is how long a lossy implementation's round trip may take
// before it counts as lost: well above the slowest round trips seen here at
// that concurrency (a few ms alone, tens of ms among 64 callers sending 64 KiB),
// and far below callTimeout, so that lost replies do not swamp the measurement.
func lossyTimeout(callers int) time.Duration {
	if callers == 1 {
		return 20 * time.Millisecond
	}
	return 250 * time.Millisecond
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopBrokers()
	os.Exit(code)
}

// BenchmarkRoundTrip measures request→reply round trips. Names are
// broker=/impl=/qos=/size=/callers= so that cmd/benchtable can group them.
func BenchmarkRoundTrip(b *testing.B) {
	for _, br := range mqttBrokers {
		b.Run("broker="+br.name, func(b *testing.B) {
			url := br.url(b)
			for _, im := range startingAt(mqttImpls, os.Getenv("BENCH_FIRST")) {
				b.Run("impl="+im.name, func(b *testing.B) {
					for _, qos := range qosLevels {
						b.Run(fmt.Sprintf("qos=%d", qos), func(b *testing.B) {
							runMatrix(b, im.setup(b, url, qos), im.lossy, br.cpu)
						})
					}
				})
			}
		})
	}
	b.Run("broker=nats", func(b *testing.B) {
		url := natsURL(b)
		b.Run("impl=nats", func(b *testing.B) {
			// NATS core request/reply is at most once, the counterpart of QoS 0.
			b.Run("qos=0", func(b *testing.B) {
				runMatrix(b, setupNATS(b, url), false, nil)
			})
		})
	})
}

// startingAt returns impls rotated so that the one named first comes first
// (run.sh names a different one of those it selects in each pass); any other
// name leaves them as they are. The first implementation a process runs is
// measured slower than it is when it runs later (mqttrpc-v311 by 6–9 %,
// bench/README.md), so no implementation must be first in every pass.
func startingAt(impls []impl, first string) []impl {
	i := slices.IndexFunc(impls, func(im impl) bool { return im.name == first })
	if i < 0 {
		return impls
	}
	return append(slices.Clone(impls[i:]), impls[:i]...)
}

// brokerCPUFunc returns the CPU time a broker running as a process of its
// own has used so far, and whether it could be read.
type brokerCPUFunc func() (time.Duration, bool)

func runMatrix(b *testing.B, newCaller func(int) callFunc, lossy bool, brokerCPU brokerCPUFunc) {
	for _, size := range sizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			for _, n := range callerCount {
				b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
					runRoundTrips(b, newCaller, size, n, lossy, brokerCPU)
				})
			}
		})
	}
}

// runRoundTrips makes b.N round trips shared among callers goroutines. ns/op
// is wall time per round trip, so with many callers it is the inverse of
// throughput; rt/s states that throughput directly. p50-µs and p99-µs are
// percentiles of the time each round trip took, as its caller saw it: with
// many callers that includes the wait behind the others. cpu-ns/op is the
// CPU time of this process per round trip: both clients, requester and
// responder, together (and the broker's when it is the embedded one);
// broker-cpu-ns/op, where the broker is a process of its own (mosquitto),
// is that process's.
func runRoundTrips(b *testing.B, newCaller func(int) callFunc, size, callers int, lossy bool, brokerCPU brokerCPUFunc) {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	calls := make([]callFunc, callers)
	for i := range calls {
		calls[i] = newCaller(i)
	}
	timeout := callTimeout
	if lossy {
		timeout = lossyTimeout(callers)
	}
	var lost atomic.Int64
	do := func(call callFunc) error {
		err := roundTrip(call, payload, timeout)
		if lossy && errors.Is(err, errLost) {
			lost.Add(1)
			return nil
		}
		return err
	}

	// One round trip per caller before timing: per-caller subscriptions are
	// made and the connections are warm.
	var warm sync.WaitGroup
	errs := make([]error, callers)
	for i, call := range calls {
		warm.Go(func() { errs[i] = do(call) })
	}
	warm.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	lost.Store(0)

	// One slot per round trip, made before the timer starts so that recording
	// allocates nothing while it runs. A lost round trip is recorded too, at
	// its timeout: that is how long its caller waited.
	took := make([]time.Duration, b.N)
	timed := func(i int, call callFunc) error {
		start := time.Now()
		err := do(call)
		took[i] = time.Since(start)
		return err
	}

	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	var bcpu0 time.Duration
	bcpuOK := brokerCPU != nil
	if bcpuOK {
		bcpu0, bcpuOK = brokerCPU()
	}
	b.ResetTimer()
	if callers == 1 {
		for i := range b.N {
			if err := timed(i, calls[0]); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var next atomic.Int64
		var firstErr atomic.Pointer[error]
		var wg sync.WaitGroup
		for _, call := range calls {
			wg.Go(func() {
				// Each round trip's number is its own slot in took.
				for n := next.Add(1); n <= int64(b.N) && firstErr.Load() == nil; n = next.Add(1) {
					if err := timed(int(n-1), call); err != nil {
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
		}
		wg.Wait()
		if err := firstErr.Load(); err != nil {
			b.Fatal(*err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rt/s")
	slices.Sort(took)
	b.ReportMetric(micros(percentile(took, 0.50)), "p50-µs")
	b.ReportMetric(micros(percentile(took, 0.99)), "p99-µs")
	if cpu1, ok := processCPU(); ok && cpuOK {
		// This process only: requester and responder, plus the broker when it
		// is the embedded one, but not mosquitto, which runs apart.
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
	if bcpuOK {
		if bcpu1, ok := brokerCPU(); ok {
			b.ReportMetric(float64(bcpu1-bcpu0)/float64(b.N), "broker-cpu-ns/op")
		}
	}
	if lossy {
		b.ReportMetric(float64(lost.Load())/float64(b.N), "lost/op")
	}
}

// percentile returns the p-th quantile of sorted by the nearest-rank method:
// the smallest value that at least p of the values do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// errLost is a round trip that got no reply before its deadline.
var errLost = errors.New("no reply before the deadline")

func roundTrip(call callFunc, payload []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reply, err := call(ctx, payload)
	if err != nil {
		if ctx.Err() != nil {
			// Not every client wraps the context's error; the context says.
			return fmt.Errorf("%w: %w", errLost, err)
		}
		return err
	}
	// The length is enough to catch a reply that belongs to another request of
	// another size, without making the 64 KiB cases pay for a full compare.
	if len(reply) != len(payload) {
		return fmt.Errorf("reply has %d bytes, want %d", len(reply), len(payload))
	}
	return nil
}

// token returns 16 random hex digits, to keep each setup's topics and client
// IDs apart from every other's on a shared broker.
func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cleanupClose registers a close that may block, bounded so that a stuck
// client cannot hang the whole run.
func cleanupClose(tb testing.TB, name string, close func(ctx context.Context) error) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := close(ctx); err != nil && !errors.Is(err, context.Canceled) {
			tb.Logf("closing %s: %v", name, err)
		}
	})
}

func TestStartingAt(t *testing.T) {
	names := func(impls []impl) (out []string) {
		for _, im := range impls {
			out = append(out, im.name)
		}
		return out
	}
	impls := []impl{{name: "a"}, {name: "b"}, {name: "c"}}
	for first, want := range map[string][]string{
		"":  {"a", "b", "c"},
		"x": {"a", "b", "c"},
		"a": {"a", "b", "c"},
		"b": {"b", "c", "a"},
		"c": {"c", "a", "b"},
	} {
		if got := names(startingAt(impls, first)); !slices.Equal(got, want) {
			t.Errorf("starting at %q: %v, want %v", first, got, want)
		}
	}
	if got := names(impls); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("startingAt changed the table itself: %v", got)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {0.5, 100}, {0.99, 198}, {1, 200}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("percentile(1…200, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(d[:1], 0.99); got != 1 {
		t.Errorf("percentile of one value = %v, want 1", got)
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Errorf("percentile of none = %v, want 0", got)
	}
}
