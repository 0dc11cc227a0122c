package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
	"github.com/mqttrpc/mqttrpc/internal/bufconn"
)

// mosquittoDefaults is what testdata/mosquitto.conf raises for throughput,
// set back to mosquitto's defaults: at most 20 QoS 1 messages in flight
// (Receive Maximum 20 on MQTT 5), which is where a stall pushes back first.
const mosquittoDefaults = "max_inflight_messages 20\nmax_queued_messages 1000\n"

// stallBrokers returns mochi over TCP and over WebSocket and, where
// installed, mosquitto with its default flow control.
func stallBrokers(t *testing.T) []*brokertest.Broker {
	brokers := []*brokertest.Broker{brokertest.Mochi(t), brokertest.MochiWebsocket(t)}
	for _, b := range brokertest.All(t)[1:] { // the CI rule of All: mosquitto is required there
		_ = b
		brokers = append(brokers, brokertest.MosquittoWith(t, mosquittoDefaults))
	}
	return brokers
}

// lateBy is how long past its deadline a call may take to return: the time
// to notice the deadline and unwind. On a loaded machine the scheduler's own
// lag comes on top (see schedulerLag).
const lateBy = 200 * time.Millisecond

// schedulerLag measures, until the test ends, how late a timer's goroutine
// wakes up: a call cannot return earlier than the runtime lets it run, so a
// loaded machine's lag is added to what a call may overrun. It returns the
// worst lag so far.
func schedulerLag(t *testing.T) func() time.Duration {
	var worst atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		const tick = 5 * time.Millisecond
		timer := time.NewTimer(tick)
		defer timer.Stop()
		for due := time.Now().Add(tick); ; due = time.Now().Add(tick) {
			select {
			case <-stop:
				return
			case <-timer.C:
				if lag := int64(time.Since(due)); lag > worst.Load() {
					worst.Store(lag)
				}
				timer.Reset(tick)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() time.Duration { return time.Duration(worst.Load()) }
}

// TestStalledLinkEndsCallsByDeadline stalls the link between a requester and
// the MQTT broker: no byte passes either way and no socket closes, so
// nothing tells the client. Every call must still end by its deadline (plus
// lateBy) with ErrTimeout or ErrDisconnected, and calls must succeed again
// once the link flows. Payloads of 64 KiB fill the socket buffers during the
// stall; the requester then waits for room in its own buffer, within each
// call's deadline.
func TestStalledLinkEndsCallsByDeadline(t *testing.T) {
	// Four cases at a time: the bound is on the library's waits, and sixteen
	// cases of 64 KiB payloads at once overload two cores.
	running := make(chan struct{}, 4)
	for _, b := range stallBrokers(t) {
		for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
			for _, qos := range []byte{0, 1} {
				for _, size := range []int{16, 64 << 10} {
					tg := target{broker: b, version: v}
					t.Run(fmt.Sprintf("%s/qos=%d/size=%d", tg, qos, size), func(t *testing.T) {
						t.Parallel()
						running <- struct{}{}
						defer func() { <-running }()
						testStall(t, tg, qos, size)
					})
				}
			}
		}
	}
}

func testStall(t *testing.T, tg target, qos byte, size int) {
	const (
		callers  = 8
		deadline = 500 * time.Millisecond
	)
	proxy := brokertest.NewProxy(t, tg.broker)
	srv := connect(t, tg)
	cli, err := mqttrpc.Connect(ctxTimeout(t, 10*time.Second), proxy.URL, mqttrpc.WithVersion(tg.version))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cli.Close(ctxTimeout(t, 5*time.Second))) })
	r := newRoute(t, tg, "stall")
	if tg.version == mqttrpc.V311 {
		// With one ReplyTo topic, after the first timeout each caller waits
		// for the reply it owes before publishing, and the buffer never
		// backs up: TestReplyToStall covers that. Token replies let every
		// caller publish.
		r = tokenRoute(t, "stall")
	}
	subscribe(t, srv, r.pattern(), mqttrpc.Typed(func(_ context.Context, in []byte) (int, error) {
		return len(in), nil
	}), r.serve(mqttrpc.QoS(qos))...)

	var (
		stalled, resumed  atomic.Bool
		ok, okAfterResume atomic.Int64
		failedInStall     atomic.Int64
		worst             atomic.Int64 // nanoseconds past the deadline
		overs             []time.Duration
		mu                sync.Mutex
		badErrs           []error
		stop              = make(chan struct{})
		wg                sync.WaitGroup
	)
	body := make([]byte, size)
	lag := schedulerLag(t)
	for range callers {
		opts := r.call(mqttrpc.QoS(qos), mqttrpc.Timeout(deadline))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				wasResumed := resumed.Load()
				start := time.Now()
				_, err := cli.Request(context.Background(), r.topic, body, opts...)
				if over := time.Since(start) - deadline; over > 0 {
					for w := worst.Load(); int64(over) > w && !worst.CompareAndSwap(w, int64(over)); w = worst.Load() {
					}
					mu.Lock()
					overs = append(overs, over)
					mu.Unlock()
				}
				switch {
				case err == nil:
					ok.Add(1)
					if wasResumed {
						okAfterResume.Add(1)
					}
				case (errors.Is(err, mqttrpc.ErrTimeout) || errors.Is(err, mqttrpc.ErrDisconnected)) && mqttrpc.IsRetriable(err):
					if stalled.Load() && !resumed.Load() {
						failedInStall.Add(1)
					}
				default:
					mu.Lock()
					badErrs = append(badErrs, err)
					mu.Unlock()
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	require.Eventually(t, func() bool { return ok.Load() >= callers }, 10*time.Second, time.Millisecond, "traffic flows first")
	proxy.Stall()
	stalled.Store(true)
	// The stall lasts until every caller has, on average, failed twice and,
	// with large QoS 0 payloads, the socket buffers are full and the
	// requester's own has backed up. (At QoS 1 the broker's Receive Maximum
	// holds requests back first.)
	backedUp := func() bool {
		c := mqttrpc.ConnOf(cli)
		return size < 64<<10 || qos > 0 || c != nil && c.Buffered() >= bufconn.Limit
	}
	require.Eventually(t, func() bool { return failedInStall.Load() >= 2*callers && backedUp() },
		30*time.Second, time.Millisecond, "calls end during the stall")
	resumed.Store(true)
	proxy.Resume()
	require.Eventually(t, func() bool { return okAfterResume.Load() >= callers }, 30*time.Second, time.Millisecond,
		"calls succeed again after the stall")
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close

	allowed := lateBy + lag()
	late := 0
	for _, over := range overs {
		if over > allowed {
			late++
		}
	}
	t.Logf("%d ok (%d after the stall), %d failed during it; worst return %v past the deadline, scheduler lag up to %v",
		ok.Load(), okAfterResume.Load(), failedInStall.Load(), time.Duration(worst.Load()).Round(time.Millisecond),
		lag().Round(time.Millisecond))
	assert.Zero(t, late, "calls that returned more than %v (%v and the scheduler's lag) past their deadline", allowed, lateBy)
	assert.Empty(t, badErrs, "errors other than ErrTimeout and ErrDisconnected")
}
