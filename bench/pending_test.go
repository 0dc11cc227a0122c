package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttrpc/mqttrpc"
)

// inFlight is how many requests BenchmarkPending10k keeps waiting at once.
const inFlight = 10_000

// pendingImpl is a requester for BenchmarkPending10k.
type pendingImpl struct {
	name string
	// setup returns the requester's round trip for requests to topic. g is
	// for the idle requester, which stands in for the responder itself.
	setup func(tb testing.TB, url string, qos byte, topic string, g *gate) callFunc
	// responder says whether the gated responder must run: idle needs none.
	responder bool
}

var pendingImpls = []pendingImpl{
	// idle is the harness alone: a goroutine per caller with its context,
	// blocked on a channel. Subtract it from the others to see what one
	// pending request costs the client library itself.
	{"idle", setupIdle, false},
	{"mqttrpc-v5", setupPendingMQTTRPC, true},
	{"paho-v5", setupPendingPaho, true},
	{"autopaho-v5", setupPendingAutopaho, true},
}

// BenchmarkPending10k puts 10,000 requests in flight at once: the responder
// holds every request until all have arrived, the heap is measured while all
// wait, then every reply is sent and each request must complete. B/pending
// is the live heap per waiting request (caller goroutine's heap objects
// included; their stacks are in stackB/pending). The responder copies what
// it needs into memory allocated before the baseline, so the figure is the
// requester's (plus, on mochi, whatever the in-process broker keeps).
func BenchmarkPending10k(b *testing.B) {
	warmGoroutines.Do(func() { warmUpGoroutines(inFlight + 1000) })
	for _, br := range mqttBrokers {
		b.Run("broker="+br.name, func(b *testing.B) {
			url := br.url(b)
			for _, im := range pendingImpls {
				b.Run("impl="+im.name, func(b *testing.B) {
					for _, qos := range qosLevels {
						b.Run(fmt.Sprintf("qos=%d", qos), func(b *testing.B) {
							runPending(b, url, im, qos)
						})
					}
				})
			}
		})
	}
}

// warmUpGoroutines starts and ends n goroutines, so that the runtime's
// goroutine descriptors (about 400 B each, never freed but reused) exist
// before any baseline: otherwise whichever case runs first pays for them.
func warmUpGoroutines(n int) {
	var started, wg sync.WaitGroup
	stop := make(chan struct{})
	started.Add(n)
	for range n {
		wg.Go(func() {
			started.Done()
			<-stop
		})
	}
	started.Wait()
	close(stop)
	wg.Wait()
}

var warmGoroutines sync.Once

// heapProfileEnv names a file to which BenchmarkPending10k writes a heap
// profile while all its requests wait, to see what holds the memory:
// go tool pprof -sample_index=inuse_space -top bench.test FILE.
// The profile is of the last case run; select one with -bench.
const heapProfileEnv = "BENCH_PENDING_HEAPPROFILE"

func runPending(b *testing.B, url string, im pendingImpl, qos byte) {
	var heapPer, stackPer float64
	for range b.N {
		heapPer, stackPer = pendingOnce(b, url, im, qos, b.StopTimer, b.StartTimer)
	}
	b.ReportMetric(heapPer, "B/pending")
	b.ReportMetric(stackPer, "stackB/pending")
}

// TestPending10k checks that 10,000 mqttrpc requests in flight at once all
// complete, at QoS 1 on the embedded broker.
func TestPending10k(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 requests; skipped in -short")
	}
	warmGoroutines.Do(func() { warmUpGoroutines(inFlight + 1000) })
	heap, _ := pendingOnce(t, mochiURL(t), pendingImpls[1], 1, func() {}, func() {})
	t.Logf("%.0f B of heap per pending request", heap)
}

// pendingOnce puts inFlight requests in flight, measures the heap while all
// wait, then releases the replies and checks that every request completed.
// pause and resume keep the setup and the measuring out of a benchmark's time.
func pendingOnce(tb testing.TB, url string, im pendingImpl, qos byte, pause, resume func()) (heapPer, stackPer float64) {
	profile := os.Getenv(heapProfileEnv)
	if profile != "" {
		// Every allocation sampled, so the profile accounts for all of it.
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	payload := make([]byte, 16)
	pause()
	topic := "bench/" + token() + "/pending"
	g := newGate(inFlight)
	if im.responder {
		startGatedResponder(tb, url, topic, qos, g)
	}
	call := im.setup(tb, url, qos, topic, g)
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	resume()

	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Pointer[error]
	for range inFlight {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			reply, err := call(ctx, payload)
			if err == nil && len(reply) != len(payload) {
				err = fmt.Errorf("reply has %d bytes, want %d", len(reply), len(payload))
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, &err)
			}
		})
	}
	select {
	case <-g.all:
	case <-time.After(time.Minute):
		tb.Fatalf("only %d of %d requests reached the responder", g.arrived.Load(), inFlight)
	}

	pause()
	settle(tb, goroutines+inFlight)
	runtime.GC()
	runtime.ReadMemStats(&during)
	heapPer = float64(int64(during.HeapAlloc)-int64(before.HeapAlloc)) / inFlight
	// Stacks are reported apart: they are not heap, and the runtime sizes a
	// new goroutine's first stack from the average it has seen, so the
	// figure depends on what ran before more than the heap figure does.
	stackPer = float64(int64(during.StackInuse)-int64(before.StackInuse)) / inFlight
	if profile != "" {
		writeHeapProfile(tb, profile)
	}
	resume()

	g.release()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }() // ends when every caller has returned
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		tb.Fatalf("requests still waiting 2 min after the replies were sent")
	}
	if n := failed.Load(); n > 0 {
		tb.Fatalf("%d of %d requests failed; first: %v", n, inFlight, *firstErr.Load())
	}
	return heapPer, stackPer
}

// settle waits until no more than want goroutines run and none is inside a
// QoS 1 or 2 publish: every caller parked waiting for its reply and nothing
// else at work. A request reaches the responder before the requester has its
// PUBACK, and a publish still waiting for one holds memory (and a deeper
// stack) that a pending request does not, so measuring at once would count a
// varying share of publishes in flight. It gives up after 10 s and says so:
// the figures then include them.
func settle(tb testing.TB, want int) {
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > want || publishing() > 0 {
		if time.Now().After(deadline) {
			tb.Logf("still %d goroutines beyond the %d waiting callers, %d publishing; measuring anyway",
				runtime.NumGoroutine()-want, inFlight, publishing())
			return
		}
		time.Sleep(10 * time.Millisecond) // poll: the runtime signals no event for this
	}
}

// publishing counts the goroutines waiting in paho.golang for the
// acknowledgement of a publish, or for the quota to send one.
func publishing() int {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return 0
	}
	// debug=1 groups goroutines by stack: a line "N @ 0x..." opens a group
	// of N, and a line "#\t0x...\tfunction+0x..." names each frame.
	n, group := 0, 0
	for line := range strings.Lines(buf.String()) {
		if count, _, ok := strings.Cut(line, " @ "); ok {
			group, _ = strconv.Atoi(count)
			continue
		}
		if strings.Contains(line, "paho.(*Client).publishQoS12") {
			n += group
			group = 0 // counted once, whatever frames follow
		}
	}
	return n
}

func writeHeapProfile(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// gate counts requests as they arrive and holds them until released.
type gate struct {
	want     int64
	arrived  atomic.Int64
	all      chan struct{} // closed when want requests have arrived
	released chan struct{}
	onOpen   func() // sends the held replies; nil for the idle requester
	once     sync.Once
}

func newGate(want int) *gate {
	return &gate{want: int64(want), all: make(chan struct{}), released: make(chan struct{})}
}

// arrive counts one request and returns its index.
func (g *gate) arrive() int64 {
	i := g.arrived.Add(1) - 1
	if i == g.want-1 {
		close(g.all)
	}
	return i
}

func (g *gate) release() {
	g.once.Do(func() {
		close(g.released)
		if g.onOpen != nil {
			g.onOpen()
		}
	})
}

func setupIdle(_ testing.TB, _ string, _ byte, _ string, g *gate) callFunc {
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		g.arrive()
		select {
		case <-g.released:
			return payload, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func setupPendingMQTTRPC(tb testing.TB, url string, qos byte, topic string, _ *gate) callFunc {
	requester := connectMQTTRPC(tb, url, mqttrpc.V5)
	q := mqttrpc.QoS(qos)
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		m, err := requester.Request(ctx, topic, payload, q)
		if err != nil {
			return nil, err
		}
		return m.Body, nil
	}
}

func setupPendingPaho(tb testing.TB, url string, qos byte, topic string, _ *gate) callFunc {
	r := newPahoRequester(tb, url, "bench/"+token()+"/inbox")
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		// Every pending request waits at once: each needs a channel of its own.
		return r.request(ctx, make(chan []byte, 1), topic, qos, payload)
	}
}

func setupPendingAutopaho(tb testing.TB, url string, qos byte, topic string, _ *gate) callFunc {
	r := newAutopahoRequester(tb, url, "bench/"+token()+"/reply")
	return func(ctx context.Context, payload []byte) ([]byte, error) {
		return r.request(ctx, topic, qos, payload)
	}
}

// slot is the arena room for one held request's Response Topic and
// Correlation Data; both are far shorter in every requester here.
const slot = 128

// startGatedResponder subscribes to topic and holds every request until g is
// released, then answers them all. What it keeps of a request is copied into
// an arena allocated now, before the heap baseline, so that the garbage it
// leaves behind is collected and none of the pending memory is its own.
func startGatedResponder(tb testing.TB, url, topic string, qos byte, g *gate) {
	arena := make([]byte, inFlight*slot)
	lens := make([][2]uint8, inFlight)
	var overflow atomic.Bool
	received := func(pr paho.PublishReceived) (bool, error) {
		p := pr.Packet
		if p.Properties == nil {
			return false, nil
		}
		i := g.arrive()
		rt, cd := p.Properties.ResponseTopic, p.Properties.CorrelationData
		if i >= inFlight || len(rt)+len(cd) > slot {
			overflow.Store(true)
			return true, nil
		}
		s := arena[i*slot : (i+1)*slot]
		copy(s, rt)
		copy(s[len(rt):], cd)
		lens[i] = [2]uint8{uint8(len(rt)), uint8(len(cd))}
		return true, nil
	}
	cm := connectAutopaho(tb, url, []paho.SubscribeOptions{{Topic: topic, QoS: qos}}, received)
	g.onOpen = func() {
		if overflow.Load() {
			tb.Error("gated responder: more requests than expected, or a reply topic too long")
		}
		payload := make([]byte, 16)
		var next atomic.Int64
		var wg sync.WaitGroup
		// A few publishers, as QoS 1 waits for each PUBACK.
		for range 16 {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < inFlight; i = next.Add(1) - 1 {
					s, l := arena[i*slot:], lens[i]
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					_, err := cm.Publish(ctx, &paho.Publish{
						Topic:      string(s[:l[0]]),
						QoS:        qos,
						Payload:    payload,
						Properties: &paho.PublishProperties{CorrelationData: s[l[0] : l[0]+l[1]]},
					})
					cancel()
					if err != nil && !errors.Is(err, context.Canceled) {
						tb.Errorf("gated responder: reply %d: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}
