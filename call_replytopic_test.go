package mqttrpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// replyLoad is a set of MQTT 3.1.1 callers, each looping on requests with
// [mqttrpc.ReplyTo], spread over several Brokers, and a shared group of
// responders that answer each request with the ID at the head of its body.
// A reply with another ID is another call's: a wrong reply.
type replyLoad struct {
	callers    int
	brokers    int  // the callers' Brokers, callers spread evenly
	responders int  // in one shared group
	oneTopic   bool // every caller on one reply topic, instead of one each
	size       int  // bytes per request body
	qos        byte
	deadline   time.Duration // each request's Timeout

	// Counted from the start.
	ok, wrong, failed atomic.Int64
	// mark is set (unix nanos) by markNow; firstOK is the first success that
	// began after it, okAfter counts those, and fresh counts the callers
	// with one.
	mark, firstOK  atomic.Int64
	okAfter, fresh atomic.Int64

	clis   []*mqttrpc.Broker
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	bad    []error  // errors other than timeouts and lost connections
	wrongs []string // the first few wrong replies, "sent → got"
}

// start connects the responders to responderURL and the callers to
// callerURL (a proxy, or the broker itself), and runs the callers until the
// test ends.
func (l *replyLoad) start(t *testing.T, responderURL, callerURL string) {
	base := uniqueTopic(t, "replyload")
	for range l.responders {
		srv := connect311(t, responderURL, mqttrpc.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond))
		subscribe(t, srv, base+"/request/{caller}", mqttrpc.Typed(func(_ context.Context, in []byte) (string, error) {
			id, _, _ := bytes.Cut(in, []byte{'|'})
			return string(id), nil
		}), mqttrpc.Shared("svc"), mqttrpc.QoS(l.qos), mqttrpc.ReplyTopic(base+"/reply/{caller}"))
	}
	for range l.brokers {
		l.clis = append(l.clis, connect311(t, callerURL, mqttrpc.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond)))
	}
	l.stop = make(chan struct{})
	t.Cleanup(l.halt)
	for i := range l.callers {
		cli := l.clis[i%len(l.clis)]
		caller := fmt.Sprint(i)
		if l.oneTopic {
			caller = "all"
		}
		topic := base + "/request/" + caller
		opts := []mqttrpc.RequestOption{mqttrpc.ReplyTo(base + "/reply/" + caller), mqttrpc.QoS(l.qos), mqttrpc.Timeout(l.deadline)}
		l.wg.Go(func() { l.call(cli, i, topic, opts) })
	}
}

// call is one caller's loop.
func (l *replyLoad) call(cli *mqttrpc.Broker, i int, topic string, opts []mqttrpc.RequestOption) {
	var freshFor int64 // the mark this caller has succeeded since
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		id := fmt.Sprintf("%d/%d", i, n)
		body := make([]byte, max(l.size, len(id)+1)) // paho may still be writing the last one
		copy(body, id+"|")
		start := time.Now().UnixNano()
		reply, err := cli.Request(context.Background(), topic, body, opts...)
		switch {
		case err == nil && string(reply.Body) == id:
			l.ok.Add(1)
			if mark := l.mark.Load(); mark != 0 && start >= mark {
				l.okAfter.Add(1)
				l.firstOK.CompareAndSwap(0, time.Now().UnixNano())
				if freshFor != mark {
					freshFor = mark
					l.fresh.Add(1)
				}
			}
		case err == nil:
			l.wrong.Add(1)
			l.mu.Lock()
			if len(l.wrongs) < 5 {
				l.wrongs = append(l.wrongs, fmt.Sprintf("%s → %s", id, reply.Body))
			}
			l.mu.Unlock()
		case errors.Is(err, mqttrpc.ErrTimeout) || errors.Is(err, mqttrpc.ErrDisconnected):
			l.failed.Add(1)
			if errors.Is(err, mqttrpc.ErrDisconnected) && !errors.Is(err, mqttrpc.ErrTimeout) {
				// Failed at once: pace the retries while the broker is away.
				select {
				case <-time.After(10 * time.Millisecond):
				case <-l.stop:
					return
				}
			}
		default:
			l.mu.Lock()
			l.bad = append(l.bad, err)
			l.mu.Unlock()
		}
	}
}

// markNow starts counting successes anew: those of requests sent from now.
func (l *replyLoad) markNow() {
	l.mark.Store(0)
	l.firstOK.Store(0)
	l.okAfter.Store(0)
	l.fresh.Store(0)
	l.mark.Store(time.Now().UnixNano())
}

// unmark stops counting successes after a mark.
func (l *replyLoad) unmark() { l.mark.Store(0) }

// sinceMark returns how long after the mark the first success came.
func (l *replyLoad) sinceMark() time.Duration {
	first := l.firstOK.Load()
	if first == 0 {
		return -1
	}
	return time.Duration(first - l.mark.Load())
}

// halt stops the callers and waits for them.
func (l *replyLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// dropped sums the callers' Brokers' DroppedReplies.
func (l *replyLoad) dropped() uint64 {
	var n uint64
	for _, c := range l.clis {
		n += c.Stats().DroppedReplies
	}
	return n
}

// check asserts that no caller got another's reply, and that no call failed
// otherwise than by a timeout or a lost connection.
func (l *replyLoad) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	assert.Zero(t, l.wrong.Load(), "wrong replies, the first: %v", l.wrongs)
	assert.Empty(t, l.bad, "errors other than ErrTimeout and ErrDisconnected")
}

// connectURL opens an MQTT 3.1.1 Broker on url, closed when the test ends.
func connect311(t *testing.T, url string, opts ...mqttrpc.Option) *mqttrpc.Broker {
	t.Helper()
	b, err := mqttrpc.Connect(ctxTimeout(t, 10*time.Second), url, append([]mqttrpc.Option{mqttrpc.WithVersion(mqttrpc.V311)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close(ctxTimeout(t, 5*time.Second))) })
	return b
}

// replyBrokers returns mochi and, where installed (required in CI),
// mosquitto with its default flow control.
func replyBrokers(t *testing.T) []*brokertest.Broker {
	brokers := []*brokertest.Broker{brokertest.Mochi(t)}
	if len(brokertest.All(t)) > 1 {
		brokers = append(brokers, brokertest.MosquittoWith(t, mosquittoDefaults))
	}
	return brokers
}

// TestReplyToStall stalls the link between the callers and the MQTT broker
// while large QoS 0 requests fill its buffers, long enough for every caller
// to time out several times, then lets it flow. The requests that timed out
// reach the responders after all, and their replies come late: none may
// answer a later call, and calls must succeed again soon after.
func TestReplyToStall(t *testing.T) {
	for _, b := range replyBrokers(t) {
		t.Run(b.Name, func(t *testing.T) {
			l := &replyLoad{callers: 20, brokers: 2, responders: 2, size: 64 << 10, deadline: 300 * time.Millisecond}
			testReplyToStall(t, b, l, 0)
		})
	}
}

// testReplyToStall runs l through a proxy to b, stalls the link for at least
// stall and until each caller has failed three times, and resumes it.
func testReplyToStall(t *testing.T, b *brokertest.Broker, l *replyLoad, stall time.Duration) {
	proxy := brokertest.NewProxy(t, b)
	l.start(t, b.URL, proxy.URL)
	require.Eventually(t, func() bool { return l.ok.Load() >= int64(2*l.callers) }, 20*time.Second, time.Millisecond,
		"calls succeed before the stall")

	proxy.Stall()
	stalledAt := time.Now()
	failed := l.failed.Load()
	require.Eventually(t, func() bool { return l.failed.Load()-failed >= int64(3*l.callers) }, 60*time.Second, time.Millisecond,
		"calls time out in the stall")
	if rest := stall - time.Since(stalledAt); rest > 0 {
		time.Sleep(rest) // the stall itself, not a wait for an event
	}
	okBefore, wrongBefore, failedInStall := l.ok.Load(), l.wrong.Load(), l.failed.Load()-failed
	stalled := time.Since(stalledAt)

	l.markNow()
	proxy.Resume()
	assert.Eventually(t, func() bool { return l.fresh.Load() == int64(l.callers) }, 20*time.Second, time.Millisecond,
		"every caller succeeds again after the stall")
	firstOK, allOK := l.sinceMark(), time.Since(time.Unix(0, l.mark.Load()))
	okAfter := l.okAfter.Load()
	assert.Eventually(t, func() bool { return l.okAfter.Load() >= okAfter+int64(2*l.callers) }, 20*time.Second, time.Millisecond,
		"calls keep succeeding")
	l.halt()
	t.Logf("%d callers on %d Brokers, %d responders, %d B QoS %d, %v deadline: stall of %v, %d calls failed in it; "+
		"%d ok, %d wrong replies (%d during the stall); after Resume the first success in %v, every caller's in %v; "+
		"%d ok after Resume; DroppedReplies %d",
		l.callers, l.brokers, l.responders, l.size, l.qos, l.deadline, stalled.Round(time.Millisecond), failedInStall,
		l.ok.Load(), l.wrong.Load(), wrongBefore, firstOK.Round(time.Millisecond), allOK.Round(time.Millisecond),
		l.ok.Load()-okBefore, l.dropped())
	l.check(t)
}

// TestReplyToBrokerKills kills mosquitto with SIGKILL three times under load
// and starts it again: a request cut off by a kill may still be answered
// after the reconnect, and that answer must not reach a later call.
func TestReplyToBrokerKills(t *testing.T) {
	mq := brokertest.Mosquitto(t)
	l := &replyLoad{callers: 20, brokers: 2, responders: 2, qos: 1, deadline: time.Second}
	testReplyToKills(t, mq, l, 3, 0)
}

// testReplyToKills runs l on mq, killing and restarting it kills times, each
// after every caller has succeeded since the last restart and at least
// every apart.
func testReplyToKills(t *testing.T, mq *brokertest.Broker, l *replyLoad, kills int, every time.Duration) {
	l.start(t, mq.URL, mq.URL)
	require.Eventually(t, func() bool { return l.ok.Load() >= int64(2*l.callers) }, 20*time.Second, time.Millisecond,
		"calls succeed before the first kill")
	var recoveries []time.Duration
	last := time.Now()
	for range kills {
		if rest := every - time.Since(last); rest > 0 {
			time.Sleep(rest) // the traffic between kills, not a wait for an event
		}
		last = time.Now()
		mq.Kill(t)
		time.Sleep(300 * time.Millisecond) // the outage itself
		l.markNow()
		mq.Restart(t)
		restarted := time.Now()
		require.Eventually(t, func() bool { return l.fresh.Load() == int64(l.callers) }, 30*time.Second, time.Millisecond,
			"every caller succeeds again after the restart")
		recoveries = append(recoveries, time.Unix(0, l.firstOK.Load()).Sub(restarted).Round(time.Millisecond))
		l.unmark()
	}
	l.halt()
	t.Logf("%d callers on %d Brokers, %d responders, QoS %d, %v deadline, %d kills: %d ok, %d failed, %d wrong replies; "+
		"first success after each restart in %v; DroppedReplies %d",
		l.callers, l.brokers, l.responders, l.qos, l.deadline, kills, l.ok.Load(), l.failed.Load(), l.wrong.Load(),
		recoveries, l.dropped())
	l.check(t)
}

// TestReplyToFullSize measures the three cases at full size: 200 callers
// on 10 Brokers and 3 responders through a 10 s stall, the same through 3
// kills in 30 s, and 100 callers on one reply topic through a kill. It
// takes minutes, so it runs only with MQTTRPC_LONG=1.
func TestReplyToFullSize(t *testing.T) {
	if os.Getenv("MQTTRPC_LONG") == "" {
		t.Skip("set MQTTRPC_LONG=1 to run")
	}
	t.Run("stall", func(t *testing.T) {
		l := &replyLoad{callers: 200, brokers: 10, responders: 3, size: 64 << 10, deadline: time.Second}
		testReplyToStall(t, brokertest.MosquittoWith(t, mosquittoDefaults), l, 10*time.Second)
	})
	t.Run("kills", func(t *testing.T) {
		l := &replyLoad{callers: 200, brokers: 10, responders: 3, qos: 1, deadline: time.Second}
		testReplyToKills(t, brokertest.Mosquitto(t), l, 3, 10*time.Second)
	})
	t.Run("one-topic", func(t *testing.T) {
		l := &replyLoad{callers: 100, brokers: 1, responders: 3, qos: 1, deadline: time.Second, oneTopic: true}
		testReplyToKills(t, brokertest.Mosquitto(t), l, 3, 10*time.Second)
	})
}

// TestReplyToTopicsAreBounded: many distinct ReplyTo topics do not stay
// subscribed forever, and a reconnect restores what is kept in one go.
func TestReplyToTopicsAreBounded(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv := connect(t, tg)
		proxy := brokertest.NewProxy(t, tg.broker)
		states := make(chan mqttrpc.ConnState, 16)
		cli, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), proxy.URL, mqttrpc.WithVersion(tg.version),
			mqttrpc.WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond), mqttrpc.WithConnectTimeout(2*time.Second),
			mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { states <- s.State }))
		require.NoError(t, err)
		t.Cleanup(func() { _ = cli.Close(context.Background()) })
		require.Equal(t, mqttrpc.StateConnected, receive(t, states))
		topic := uniqueTopic(t, "svc")
		// Replies to replies/<n> for a request on requests/<n>, as MQTT 3.1.1
		// services that correlate by topic do.
		subscribe(t, srv, topic+"/requests/{n}", mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			return nil, srv.Publish(ctx, topic+"/replies/"+m.Param("n"), m.Body)
		}), mqttrpc.NoReply())

		for i := range 200 {
			replyTo := fmt.Sprintf("%s/replies/%d", topic, i)
			reply, err := cli.Request(ctxTimeout(t, 5*time.Second), fmt.Sprintf("%s/requests/%d", topic, i), "x", mqttrpc.ReplyTo(replyTo))
			require.NoError(t, err, replyTo)
			assert.Equal(t, "x", string(reply.Body))
		}
		require.Eventually(t, func() bool { return mqttrpc.ReplyTopics(cli) <= 32 }, 5*time.Second, time.Millisecond)

		proxy.Cut()
		require.Equal(t, mqttrpc.StateDisconnected, receive(t, states))
		proxy.Restore()
		require.Equal(t, mqttrpc.StateConnected, receive(t, states))
		_, err = cli.Request(ctxTimeout(t, 5*time.Second), topic+"/requests/199", "x", mqttrpc.ReplyTo(topic+"/replies/199"))
		require.NoError(t, err)
	})
}
