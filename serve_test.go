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
)

// counter is a handler that counts its calls and answers with its name.
type counter struct {
	name  string
	calls atomic.Int32

	mu   sync.Mutex
	seen []string // body and retain flag of each call, for failure messages
}

func (c *counter) ServeRPC(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.seen = append(c.seen, fmt.Sprintf("%q retain=%t", m.Body, m.Retain))
	c.mu.Unlock()
	return &mqttrpc.Response{Body: c.name}, nil
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.seen)
}

// settle waits until b runs no handler: every message dispatched so far has
// been served, so call counts are final.
func settle(t *testing.T, b *mqttrpc.Broker) {
	t.Helper()
	require.Eventually(t, func() bool { return mqttrpc.Busy(b) == 0 }, 10*time.Second, time.Millisecond)
}

// TestOverlappingFiltersRunOnce: mosquitto sends an MQTT 5 client one copy
// of a message per matching subscription, mochi one copy tagged with every
// identifier. Either way each request runs the most specific handler, once,
// in whichever order the handlers were registered. MQTT 3.1.1 refuses the
// overlap instead.
func TestOverlappingFiltersRunOnce(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		for _, specificFirst := range []bool{true, false} {
			t.Run(fmt.Sprint("specific_first=", specificFirst), func(t *testing.T) {
				t.Parallel()
				srv, cli := connect(t, tg), connect(t, tg)
				base := uniqueTopic(t, "devices")
				reboot, catchAll, exact := &counter{name: "reboot"}, &counter{name: "catch-all"}, &counter{name: "exact"}
				patterns := []struct {
					pattern string
					h       *counter
				}{{base + "/{id}/reboot", reboot}, {base + "/7/reboot", exact}, {base + "/#", catchAll}}
				if !specificFirst {
					patterns[0], patterns[2] = patterns[2], patterns[0]
				}
				for _, p := range patterns {
					subscribe(t, srv, p.pattern, p.h, mqttrpc.QoS(1))
				}
				ask := func(topic, want string) {
					reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, nil, mqttrpc.QoS(1))
					require.NoError(t, err)
					assert.Equal(t, want, string(reply.Body), topic)
				}
				for range 5 {
					ask(base+"/42/reboot", "reboot")
					ask(base+"/7/reboot", "exact")
					ask(base+"/42/status", "catch-all")
					ask(base, "catch-all") // "#" covers its parent level
				}
				settle(t, srv)
				assert.Equal(t, int32(5), reboot.calls.Load())
				assert.Equal(t, int32(5), exact.calls.Load())
				assert.Equal(t, int32(10), catchAll.calls.Load())
				assert.Zero(t, cli.Stats().DroppedReplies, "no second reply")
			})
		}
	})
	for _, b := range brokertest.All(t) {
		t.Run(b.Name+"/v3.1.1", func(t *testing.T) {
			srv := connect(t, target{broker: b, version: mqttrpc.V311})
			base := uniqueTopic(t, "devices")
			subscribe(t, srv, base+"/{id}/reboot", &counter{}, mqttrpc.NoReply())
			_, err := srv.Subscriber(ctxTimeout(t, 5*time.Second), base+"/#", &counter{}, mqttrpc.NoReply())
			require.ErrorIs(t, err, mqttrpc.ErrFeatureNotSupported, "the filters overlap")
			subscribe(t, srv, base+"/{id}/status", &counter{}, mqttrpc.NoReply()) // disjoint filters are fine
		})
	}
}

// TestRetainedRequestRunsOnce: a retained request is delivered again on every
// subscribe. It runs once, when it is published, and not on each reconnect.
func TestRetainedRequestRunsOnce(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		proxy := brokertest.NewProxy(t, tg.broker)
		states := make(chan mqttrpc.ConnState, 16)
		srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), proxy.URL, mqttrpc.WithVersion(tg.version),
			mqttrpc.WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond),
			mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { states <- s.State }))
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close(context.Background()) })
		require.Equal(t, mqttrpc.StateConnected, receive(t, states))
		cli := connect(t, tg)
		r := newRoute(t, tg, "reboot")

		// Retained before anyone listens: never run.
		retain(t, cli, r.topic, "stale")
		h := &counter{name: "rebooted"}
		// QoS 0: mochi on MQTT 3.1.1 sometimes loses a QoS 1 message sent
		// to a client right after a retained one; QoS plays no part here.
		subscribe(t, srv, r.topic, h, r.serve()...)
		// Retained while it listens: run once, as it is forwarded live.
		require.NoError(t, cli.Publish(ctxTimeout(t, 5*time.Second), r.topic, "live", mqttrpc.QoS(1), mqttrpc.Retain()))
		require.Eventually(t, func() bool { return h.calls.Load() == 1 }, 5*time.Second, time.Millisecond, "stats %+v", srv.Stats())

		for i := range 3 {
			proxy.Cut()
			require.Equal(t, mqttrpc.StateDisconnected, receive(t, states))
			proxy.Restore()
			require.Equal(t, mqttrpc.StateConnected, receive(t, states))
			if tg.version == mqttrpc.V311 { // the resubscribe's retained copy, dropped, before the next cut
				require.Eventually(t, func() bool { return srv.Stats().Retained >= uint64(i+2) }, 5*time.Second, time.Millisecond, "%+v %v", srv.Stats(), h)
			}
		}
		// A request after the last reconnect reaches the handler after any
		// retained copy the resubscribe brought.
		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "now", r.call(mqttrpc.QoS(1))...)
		require.NoError(t, err)
		assert.Equal(t, "rebooted", string(reply.Body))
		settle(t, srv)
		assert.Equal(t, int32(2), h.calls.Load(), "the live retained request and the last one; no reconnect re-ran it: %v", h)
	})
}

// TestAcceptRetained: with the opt-in, a retained request runs on subscribe.
func TestAcceptRetained(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "config")
		require.NoError(t, cli.Publish(ctxTimeout(t, 5*time.Second), topic, "v1", mqttrpc.QoS(1), mqttrpc.Retain()))
		t.Cleanup(func() { _ = cli.Publish(context.Background(), topic, nil, mqttrpc.Retain(), mqttrpc.QoS(1)) })
		// mochi acknowledges a QoS 1 publish before it forwards it, so a
		// subscription made just after may get "v1" twice, retained and
		// live; the cleanup's publish comes too. The handler must not block.
		got := make(chan string, 4)
		subscribe(t, srv, topic, mqttrpc.Typed(func(_ context.Context, in string) (any, error) {
			select {
			case got <- in:
			default:
			}
			return nil, nil
		}), mqttrpc.NoReply(), mqttrpc.QoS(1), mqttrpc.AcceptRetained())
		assert.Equal(t, "v1", receive(t, got))
	})
}

// TestQueuedRequestDeadlineCountsFromArrival: a request that waits for a free
// handler keeps the deadline its sender gave it, counted from its arrival; once
// that has passed, it is not run at all.
func TestQueuedRequestDeadlineCountsFromArrival(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "queue")
		release := make(chan struct{})
		deadlines := make(chan time.Time, 2)
		var calls atomic.Int32
		sub := subscribe(t, srv, topic, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			calls.Add(1)
			if string(m.Body) == "block" {
				<-release
				return nil, nil
			}
			d, _ := ctx.Deadline()
			deadlines <- d
			return nil, nil
		}), mqttrpc.Concurrency(1))

		go func() { _, _ = cli.Request(context.Background(), topic, "block", mqttrpc.Timeout(time.Minute)) }()
		require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)

		// Queued with 1 s to live; the handler frees up only after that.
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "expires", mqttrpc.Timeout(time.Second))
		require.Eventually(t, func() bool { return mqttrpc.Queued(sub) == 1 }, 5*time.Second, time.Millisecond)
		arrived := time.Now() // no earlier than its arrival
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
		<-time.After(time.Until(arrived.Add(time.Second))) // its expiry, counted from arrival, has passed
		release <- struct{}{}
		require.Eventually(t, func() bool { return srv.Stats().Expired == 1 }, 5*time.Second, time.Millisecond)

		// Queued with 3 s to live: it runs, with what is left of them.
		go func() { _, _ = cli.Request(context.Background(), topic, "block", mqttrpc.Timeout(time.Minute)) }()
		require.Eventually(t, func() bool { return calls.Load() == 2 }, 5*time.Second, time.Millisecond)
		result := make(chan error, 1)
		go func() {
			_, err := cli.Request(context.Background(), topic, "runs", mqttrpc.Timeout(3*time.Second))
			result <- err
		}()
		require.Eventually(t, func() bool { return mqttrpc.Queued(sub) == 1 }, 5*time.Second, time.Millisecond)
		arrived = time.Now()
		release <- struct{}{}
		require.NoError(t, receive(t, result))
		assert.False(t, receive(t, deadlines).After(arrived.Add(3*time.Second)), "the deadline counts from arrival, not from the start")
		assert.Equal(t, int32(3), calls.Load())
		assert.Equal(t, uint64(1), srv.Stats().Expired)
	})
}

// TestDeduplicateKeysOnTopicAndPayload: callers that share a fixed
// Correlation ID (as mosquitto_rr -D correlation-data 42 does) on different
// topics, or with different payloads, each run the handler.
func TestDeduplicateKeysOnTopicAndPayload(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		base := uniqueTopic(t, "dev")
		var calls atomic.Int32
		subscribe(t, srv, base+"/{id}/status", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			calls.Add(1)
			return &mqttrpc.Response{Body: m.Param("id") + ":" + string(m.Body)}, nil
		}), mqttrpc.Deduplicate(16))
		ask := func(id, body string) string {
			reply, err := cli.Request(ctxTimeout(t, 5*time.Second), base+"/"+id+"/status", body, mqttrpc.CorrelationID("42"))
			require.NoError(t, err)
			return string(reply.Body)
		}
		assert.Equal(t, "42:a", ask("42", "a"))
		assert.Equal(t, "43:a", ask("43", "a"), "another topic is another request")
		assert.Equal(t, "42:b", ask("42", "b"), "another payload is another request")
		assert.Equal(t, "42:b", ask("42", "b"), "a repeat")
		assert.Equal(t, int32(3), calls.Load())
		assert.Equal(t, uint64(1), srv.Stats().Duplicates)
	})
}

// TestForeignResponseTopics: any Response Topic MQTT allows is answered,
// including ones this library would not build ("/replies/x").
func TestForeignResponseTopics(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "svc")
		subscribe(t, srv, topic, mqttrpc.Typed(echo))
		for _, replyTo := range []string{"/" + topic + "/replies", topic + "//replies", topic + "/replies/"} {
			got := make(chan *mqttrpc.Message, 1)
			subscribe(t, cli, replyTo, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
				got <- m
				return nil, nil
			}), mqttrpc.NoReply())
			require.NoError(t, cli.Publish(ctxTimeout(t, 5*time.Second), topic, "hi", mqttrpc.ReplyTo(replyTo), mqttrpc.CorrelationID("c1")))
			m := receive(t, got)
			assert.Equal(t, "hi", string(m.Body), replyTo)
			assert.Equal(t, "c1", m.CorrelationID, replyTo)
		}
	})
}

// TestUnroutableRequestsAreAnswered: a request that reaches a Broker with no
// handler for its topic is answered with a 404 instead of being left to time
// out. A kept session delivers requests for a filter the Broker that made it
// no longer serves: the next Broker with that client ID gets them.
func TestUnroutableRequestsAreAnswered(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		id := fmt.Sprintf("svc-%d", topicSeq.Add(1))
		r := newRoute(t, tg, "orphan")
		proxy := brokertest.NewProxy(t, tg.broker)
		first, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), proxy.URL, mqttrpc.WithVersion(tg.version),
			mqttrpc.WithClientID(id), mqttrpc.WithSessionExpiry(time.Minute))
		require.NoError(t, err)
		subscribe(t, first, r.topic, mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
		proxy.Cut() // gone without unsubscribing: the session keeps the filter
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_ = first.Close(ctx)
		cancel()

		second := connect(t, tg, mqttrpc.WithClientID(id), mqttrpc.WithSessionExpiry(time.Minute))
		cli := connect(t, tg)
		_, err = cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "x", r.call(mqttrpc.QoS(1), mqttrpc.Timeout(2*time.Second))...)
		if tg.version == mqttrpc.V5 {
			var re *mqttrpc.RemoteError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, mqttrpc.StatusNotFound, re.Code)
		} else {
			require.ErrorIs(t, err, mqttrpc.ErrTimeout, "MQTT 3.1.1 cannot carry an error reply")
		}
		assert.Equal(t, uint64(1), second.Stats().Unroutable)
	})
}

// TestUnsubscribedTopicIsNotServed: after Unsubscribe the handler runs no more.
func TestUnsubscribedTopicIsNotServed(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "gone")
		h := &counter{name: "here"}
		s := subscribe(t, srv, topic, h, mqttrpc.QoS(1))
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, nil, mqttrpc.QoS(1))
		require.NoError(t, err)
		require.NoError(t, s.Unsubscribe(ctxTimeout(t, 5*time.Second)))
		_, err = cli.Request(ctxTimeout(t, 5*time.Second), topic, nil, mqttrpc.QoS(1), mqttrpc.Timeout(300*time.Millisecond))
		require.True(t, errorIsAny(err, mqttrpc.ErrNoResponders, mqttrpc.ErrTimeout), "got %v", err) // mochi never sends 0x10
		settle(t, srv)
		assert.Equal(t, int32(1), h.calls.Load())
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

// TestConcurrentCloseHonoursEachContext: a second Close returns by its own
// context while the first waits for a stuck handler.
func TestConcurrentCloseHonoursEachContext(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), tg.broker.URL)
		require.NoError(t, err)
		cli := connect(t, tg)
		topic := uniqueTopic(t, "stuck")
		started, release := make(chan struct{}), make(chan struct{})
		subscribe(t, srv, topic, mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			close(started)
			<-release // ignores its context
			return nil, nil
		}))
		go func() { _, _ = cli.Request(context.Background(), topic, nil, mqttrpc.Timeout(10*time.Second)) }()
		receive(t, started)

		first := make(chan error, 1)
		go func() { first <- srv.Close(ctxTimeout(t, time.Minute)) }()
		require.Eventually(t, func() bool { return mqttrpc.Closing(srv) }, 5*time.Second, time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err = srv.Close(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "returned by its own ctx, before the first Close could finish")
		close(release)
		require.NoError(t, receive(t, first))
	})
}

// TestRepliesAreNotAnswered: two services whose reply topics are each other's
// request topics answer an event once each, not forever.
func TestRepliesAreNotAnswered(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		a, b, cli, sniffer := connect(t, tg), connect(t, tg), connect(t, tg), connect(t, tg)
		base := uniqueTopic(t, "ping")
		ta, tb := base+"/a", base+"/b"
		ha, hb := &counter{name: "from a"}, &counter{name: "from b"}
		subscribe(t, a, ta, ha, mqttrpc.ReplyTopic(tb))
		subscribe(t, b, tb, hb, mqttrpc.ReplyTopic(ta))
		seen := make(chan string, 100)
		subscribe(t, sniffer, base+"/+", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			seen <- m.Topic + " " + string(m.Body)
			return nil, nil
		}), mqttrpc.NoReply())

		require.NoError(t, cli.Publish(ctxTimeout(t, 5*time.Second), ta, "event"))
		// The sniffer's handlers run concurrently: messages reach seen in any order.
		got := map[string]bool{receive(t, seen): true, receive(t, seen): true}
		assert.Equal(t, map[string]bool{ta + " event": true, tb + " from a": true}, got)
		require.Eventually(t, func() bool { return hb.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
		// b has run; Close waits for its reply, if any, to be sent. A marker
		// sent after reaches the sniffer after anything b sent, and once the
		// sniffer has seen it and run every handler, nothing else came.
		require.NoError(t, b.Close(ctxTimeout(t, 5*time.Second)))
		require.NoError(t, cli.Publish(ctxTimeout(t, 5*time.Second), base+"/marker", "end"))
		for m := receive(t, seen); m != base+"/marker end"; m = receive(t, seen) {
			t.Errorf("b answered a reply: %s", m)
		}
		settle(t, sniffer)
		assert.Empty(t, seen)
		assert.Equal(t, int32(1), ha.calls.Load())
		assert.Equal(t, int32(1), hb.calls.Load())
	})
}

// TestOverloadAnswersEveryRequest offers a handler ten times what it can
// serve, through mosquitto with its default limits (20 QoS 1 messages in
// flight per client): every request gets its reply or its 503 at once, and
// none is left to time out unless the Broker counted it as a dropped refusal.
func TestOverloadAnswersEveryRequest(t *testing.T) {
	t.Parallel()
	defaults := brokertest.MosquittoWith(t, "max_inflight_messages 20\nmax_queued_messages 1000\n")
	for _, b := range []*brokertest.Broker{brokertest.Mochi(t), defaults} {
		t.Run(b.Name, func(t *testing.T) {
			tg := target{broker: b, version: mqttrpc.V5}
			srv, cli := connect(t, tg), connect(t, tg)
			topic := uniqueTopic(t, "busy")
			subscribe(t, srv, topic, mqttrpc.Typed(func(ctx context.Context, in []byte) ([]byte, error) {
				select { // 50 ms of work: 80 requests/s with 4 at once
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
				}
				return in, nil
			}), mqttrpc.Concurrency(4), mqttrpc.QueueLimit(16), mqttrpc.QoS(1))

			const callers, each = 40, 20 // 800 requests in about 1 s at 10× capacity
			var ok, refused, timedOut, other atomic.Int64
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for range each {
						_, err := cli.Request(context.Background(), topic, "x", mqttrpc.QoS(1), mqttrpc.Timeout(5*time.Second))
						var re *mqttrpc.RemoteError
						switch {
						case err == nil:
							ok.Add(1)
						case errors.As(err, &re) && re.Code == mqttrpc.StatusServiceUnavailable:
							refused.Add(1)
						case errors.Is(err, mqttrpc.ErrTimeout):
							timedOut.Add(1)
						default:
							other.Add(1)
							t.Log(err)
						}
					}
				})
			}
			wg.Wait()
			st := srv.Stats()
			t.Logf("%d requests: %d served, %d refused with 503, %d timed out; Stats: %d overloaded, %d refusals dropped",
				callers*each, ok.Load(), refused.Load(), timedOut.Load(), st.Overloaded, st.RefusalsDropped)
			assert.Positive(t, ok.Load())
			assert.Positive(t, refused.Load())
			assert.Zero(t, other.Load())
			assert.Equal(t, uint64(refused.Load())+st.RefusalsDropped, st.Overloaded, "every refusal is sent or counted as dropped")
			assert.Equal(t, int64(st.RefusalsDropped), timedOut.Load(), "only a dropped refusal leaves its caller to time out")
		})
	}
}

// TestStaleRetainedReplyIsIgnored: a retained message left on a reply topic
// is not taken as the reply to the next request there.
func TestStaleRetainedReplyIsIgnored(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli, other := connect(t, tg), connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "svc")
		replies := topic + "/replies"
		retain(t, other, replies, "stale")
		subscribe(t, srv, topic, mqttrpc.Typed(func(context.Context, string) (string, error) { return "fresh", nil }),
			mqttrpc.ReplyTopic(replies))
		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "x", mqttrpc.ReplyTo(replies), mqttrpc.QoS(1))
		require.NoError(t, err)
		assert.Equal(t, "fresh", string(reply.Body))
	})
}

// retain publishes body to topic as a retained message and returns once the
// broker has sent it to the subscribers it had. mochi acknowledges a publish
// before it sends it on, so a client that subscribes right after could still
// get it as a live message; it handles one client's packets in order, so once
// a second publish is acknowledged, the first has gone out.
func retain(t *testing.T, b *mqttrpc.Broker, topic, body string) {
	t.Helper()
	ctx := ctxTimeout(t, 5*time.Second)
	require.NoError(t, b.Publish(ctx, topic, body, mqttrpc.QoS(1), mqttrpc.Retain()))
	t.Cleanup(func() { _ = b.Publish(context.Background(), topic, nil, mqttrpc.Retain(), mqttrpc.QoS(1)) })
	require.NoError(t, b.Publish(ctx, uniqueTopic(t, "barrier"), nil, mqttrpc.QoS(1)))
}
