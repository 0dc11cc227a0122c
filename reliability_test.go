package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// stateLog records the states a Broker reports through WithStateHandler.
type stateLog struct {
	mu     sync.Mutex
	states []mqttrpc.ConnState
}

func (l *stateLog) record(s mqttrpc.StateChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, s.State)
}

func (l *stateLog) get() []mqttrpc.ConnState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.states)
}

func TestConnectFailsWithinTimeout(t *testing.T) {
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			// A port nothing listens on: the loopback refuses at once, every time.
			url := brokertest.UnusedURL(t)
			start := time.Now()
			_, err := mqttrpc.Connect(context.Background(), url,
				mqttrpc.WithVersion(v), mqttrpc.WithConnectTimeout(500*time.Millisecond))
			require.ErrorIs(t, err, mqttrpc.ErrTimeout)
			var refused *net.OpError
			assert.ErrorAs(t, err, &refused, "the last connection error is kept as the cause")
			assert.Less(t, time.Since(start), 2*time.Second)
		})
	}
	_, err := mqttrpc.Connect(context.Background(), "::not a url")
	assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument)
	_, err = mqttrpc.Connect(context.Background(), "mqtt://")
	assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument)
}

// TestBrokerRestart kills mosquitto with SIGKILL under load and starts it
// again on the same port. Every request must end within its own deadline,
// none may get another's reply, and traffic must recover by itself.
// On MQTT 3.1.1 it runs in both reply modes: ReplyTo, where replies are told
// apart by order, and TokenReply, where by topic.
func TestBrokerRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     mqttrpc.Version
		token bool
	}{
		{"v5.0", mqttrpc.V5, false},
		{"v3.1.1/ReplyTo", mqttrpc.V311, false},
		{"v3.1.1/TokenReply", mqttrpc.V311, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testBrokerRestart(t, tc.v, tc.token) })
	}
}

func testBrokerRestart(t *testing.T, v mqttrpc.Version, token bool) {
	mq := brokertest.Mosquitto(t)
	tg := target{broker: mq, version: v}
	var srvStates, cliStates stateLog
	srv := connect(t, tg, mqttrpc.WithStateHandler(srvStates.record))
	cli := connect(t, tg, mqttrpc.WithStateHandler(cliStates.record))
	r := newRoute(t, tg, "restart")
	if token {
		r = tokenRoute(t, "restart")
	}
	subscribe(t, srv, r.pattern(), mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return "re:" + in, nil
	}), r.serve(mqttrpc.QoS(1))...)

	const (
		callers  = 100
		deadline = time.Second
	)
	var (
		stop                  atomic.Bool
		ok, failed, wrong     atomic.Int64
		late                  atomic.Int64 // ended after deadline + slack: a hang
		killedAt, restartedAt atomic.Int64 // unix nanos
		mu                    sync.Mutex
		lastFailure           time.Time
		firstOKAfterRestart   time.Time
		inFlightAtKill        atomic.Int64
		inFlight              atomic.Int64
	)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				body := fmt.Sprintf("%d-%d", i, n)
				start := time.Now()
				inFlight.Add(1)
				reply, err := cli.Request(context.Background(), r.topic, body, r.call(mqttrpc.QoS(1), mqttrpc.Timeout(deadline))...)
				inFlight.Add(-1)
				end := time.Now()
				if end.Sub(start) > deadline+500*time.Millisecond {
					late.Add(1)
				}
				switch {
				case err != nil:
					failed.Add(1)
					mu.Lock()
					lastFailure = end
					mu.Unlock()
					time.Sleep(10 * time.Millisecond) // pace the retries while the broker is down
				case string(reply.Body) != "re:"+body:
					wrong.Add(1)
				default:
					ok.Add(1)
					if ra := restartedAt.Load(); ra != 0 {
						mu.Lock()
						if firstOKAfterRestart.IsZero() {
							firstOKAfterRestart = end
						}
						mu.Unlock()
					}
				}
			}
		})
	}

	require.Eventually(t, func() bool { return ok.Load() >= 2*callers }, 10*time.Second, time.Millisecond,
		"traffic flows before the restart")
	inFlightAtKill.Store(inFlight.Load())
	killedAt.Store(time.Now().UnixNano())
	mq.Kill(t)
	time.Sleep(500 * time.Millisecond) // the outage itself, not a wait for an event
	mq.Restart(t)
	restartedAt.Store(time.Now().UnixNano())

	// Recovery: within a few seconds of the restart, requests succeed again.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !firstOKAfterRestart.IsZero()
	}, 10*time.Second, 10*time.Millisecond, "no request succeeded after the restart")
	okAtRecovery := ok.Load()
	require.Eventually(t, func() bool { return ok.Load() >= okAtRecovery+2*callers }, 10*time.Second, time.Millisecond,
		"requests keep succeeding after recovery")
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	recovery := firstOKAfterRestart.Sub(time.Unix(0, restartedAt.Load()))
	failuresEnded := lastFailure.Sub(time.Unix(0, killedAt.Load()))
	mu.Unlock()
	mode := "private inbox"
	switch {
	case token:
		mode = "TokenReply"
	case v == mqttrpc.V311:
		mode = "ReplyTo"
	}
	t.Logf("MQTT %s, %s: %d callers, %d requests in flight at SIGKILL; %d ok, %d failed (last failure %v after the kill), "+
		"first success %v after the restart, %d late, %d wrong replies",
		v, mode, callers, inFlightAtKill.Load(), ok.Load(), failed.Load(), failuresEnded.Round(time.Millisecond),
		recovery.Round(time.Millisecond), late.Load(), wrong.Load())

	assert.Zero(t, late.Load(), "every request ends within its deadline")
	assert.Greater(t, ok.Load(), okAtRecovery, "requests keep succeeding after recovery")
	recoverBy := 5 * time.Second
	if v == mqttrpc.V311 && !token {
		// The request cut off by the kill leaves the reply topic owing its
		// reply for the request timeout (5 s) after the reconnect.
		recoverBy += 5 * time.Second
	}
	assert.Less(t, recovery, recoverBy)
	assert.Zero(t, wrong.Load(), "no reply reaches the wrong caller")
	assert.Zero(t, mqttrpc.PendingRequests(cli))
	for name, l := range map[string]*stateLog{"server": &srvStates, "client": &cliStates} {
		states := l.get()
		assert.GreaterOrEqual(t, len(states), 3, "%s states %v", name, states)
		assert.Equal(t, []mqttrpc.ConnState{mqttrpc.StateConnected, mqttrpc.StateDisconnected}, states[:2], "%s", name)
		assert.Equal(t, mqttrpc.StateConnected, states[len(states)-1], "%s ends connected", name)
	}
	assert.Positive(t, cli.Stats().Disconnects)
}

// TestFloodStaysBounded floods a slow handler. The subscriber takes what its
// concurrency and queue allow, answers the rest with 503 at once, and the
// process's goroutines and memory stay bounded.
func TestFloodStaysBounded(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, flooder := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "flood")
		const concurrency, queue, flood = 4, 16, 5000
		var g gauge
		var calls atomic.Int32
		subscribe(t, srv, topic, mqttrpc.Typed(func(ctx context.Context, in []byte) ([]byte, error) {
			defer g.enter()()
			calls.Add(1)
			time.Sleep(20 * time.Millisecond)
			return in, nil
		}), mqttrpc.Concurrency(concurrency), mqttrpc.QueueLimit(queue))

		// Replies go to a sink nobody reads, so the flooder holds no state.
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		baseGoroutines := runtime.NumGoroutine()
		var maxGoroutines int
		var maxHeap uint64
		sample := func() {
			maxGoroutines = max(maxGoroutines, runtime.NumGoroutine())
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
		}
		payload := make([]byte, 1024)
		ctx := ctxTimeout(t, 30*time.Second)
		for i := range flood {
			require.NoError(t, flooder.Publish(ctx, topic, payload,
				mqttrpc.ReplyTo(topic+"/sink"), mqttrpc.CorrelationID(fmt.Sprint(i))))
			if i%100 == 0 {
				sample()
			}
		}
		require.Eventually(t, func() bool {
			sample()
			return srv.Stats().Overloaded+uint64(calls.Load()) >= flood*9/10 && g.now.Load() == 0
		}, 20*time.Second, 10*time.Millisecond)

		t.Logf("flood of %d × 1 KiB: %d handled, %d refused with 503; peak %d handlers, "+
			"goroutines %d → peak %d, heap in use %.1f → peak %.1f MiB",
			flood, calls.Load(), srv.Stats().Overloaded, g.peak.Load(), baseGoroutines, maxGoroutines,
			float64(before.HeapInuse)/(1<<20), float64(maxHeap)/(1<<20))
		assert.LessOrEqual(t, g.peak.Load(), int32(concurrency))
		assert.Positive(t, srv.Stats().Overloaded)
		// Handlers and queued requests, the 503 senders, and paho's own.
		assert.Less(t, maxGoroutines, baseGoroutines+concurrency+queue+64+50)
		assert.Less(t, maxHeap, before.HeapInuse+64<<20)
	})
}

// TestCloseUnderLoad closes a serving Broker while its handlers run: each
// running handler finishes and its reply reaches the caller.
func TestCloseUnderLoad(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), tg.broker.URL, mqttrpc.WithVersion(tg.version))
		require.NoError(t, err)
		cli := connect(t, tg)
		const n = 20
		started, release := make(chan struct{}, n), make(chan struct{})
		topic := uniqueTopic(t, "drain")
		subscribe(t, srv, topic+"/+", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
			started <- struct{}{}
			<-release // until Close has begun
			return "done:" + in, nil
		}), mqttrpc.ReplyTopic(topic+"-replies"))

		errs := make(chan error, n)
		for i := range n {
			go func() {
				var opts []mqttrpc.RequestOption
				if tg.version == mqttrpc.V311 { // a reply topic of its own per handler is impossible here: share it
					opts = append(opts, mqttrpc.ReplyTo(topic+"-replies"))
				}
				body := fmt.Sprint(i)
				reply, err := cli.Request(ctxTimeout(t, 2*time.Second), fmt.Sprintf("%s/%d", topic, i), body, opts...)
				if err == nil && string(reply.Body) != "done:"+body {
					err = fmt.Errorf("request %s got %q", body, reply.Body)
				}
				errs <- err
			}()
		}
		want := n
		if tg.version == mqttrpc.V311 {
			want = 1 // requests sharing a reply topic go one at a time
		}
		for range want {
			receive(t, started)
		}
		closed := make(chan error, 1)
		go func() { closed <- srv.Close(ctxTimeout(t, 10*time.Second)) }()
		require.Eventually(t, func() bool { return mqttrpc.Closing(srv) }, 5*time.Second, time.Millisecond)
		close(release)
		require.NoError(t, receive(t, closed))
		var answered, refused int
		for range n {
			err := <-errs
			var re *mqttrpc.RemoteError
			switch {
			case err == nil:
				answered++
			case errors.As(err, &re) && re.Code == mqttrpc.StatusServiceUnavailable,
				errors.Is(err, mqttrpc.ErrTimeout), errors.Is(err, mqttrpc.ErrNoResponders):
				refused++ // arrived after Close began
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		assert.GreaterOrEqual(t, answered, want, "every handler running at Close delivered its reply")
		t.Logf("%d answered, %d refused or unanswered after Close began", answered, refused)
	})
}

func TestCloseGivesUpOnStuckHandler(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), tg.broker.URL)
		require.NoError(t, err)
		cli := connect(t, tg)
		topic := uniqueTopic(t, "stuck")
		started := make(chan struct{})
		subscribe(t, srv, topic, mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			close(started)
			<-ctx.Done() // returns only when Close cancels it
			return "", ctx.Err()
		}))
		go func() { _, _ = cli.Request(context.Background(), topic, "x", mqttrpc.Timeout(5*time.Second)) }()
		receive(t, started)
		start := time.Now()
		err = srv.Close(ctxTimeout(t, 200*time.Millisecond))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
}

// sniff subscribes a Broker of its own to topic and reports each message
// there: once it has one, the MQTT broker has it too.
func sniff(t *testing.T, tg target, topic string) <-chan *mqttrpc.Message {
	seen := make(chan *mqttrpc.Message, 16)
	subscribe(t, connect(t, tg), topic, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		seen <- m
		return nil, nil
	}), mqttrpc.NoReply(), mqttrpc.QoS(1))
	return seen
}
