package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

func TestWrongRepliesAreDropped(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "rogue")
		// A responder that first sends a reply with foreign Correlation Data
		// and one to a token nobody asked for, then the real reply.
		subscribe(t, srv, topic, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			inbox := m.ReplyTo[:strings.LastIndexByte(m.ReplyTo, '/')]
			if err := srv.Publish(ctx, m.ReplyTo, "forged", mqttrpc.CorrelationID("not-yours"), mqttrpc.QoS(1)); err != nil {
				return nil, err
			}
			if err := srv.Publish(ctx, inbox+"/0123456789abcdef", "guessed", mqttrpc.QoS(1)); err != nil {
				return nil, err
			}
			return &mqttrpc.Response{Body: "genuine", QoS: 1}, nil
		}), mqttrpc.QoS(1))

		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "x", mqttrpc.QoS(1))
		require.NoError(t, err)
		assert.Equal(t, "genuine", string(reply.Body))
		assert.Eventually(t, func() bool { return cli.Stats().DroppedReplies == 2 }, 2*time.Second, 5*time.Millisecond,
			"dropped: %d", cli.Stats().DroppedReplies)
	})
}

// TestDispatchTakesNoStateLock serves requests while every lock that a
// connection change, a Subscriber or a reply topic takes is held: the
// dispatcher, the handler and its reply go on without them.
func TestDispatchTakesNoStateLock(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "locks")
		var opts []mqttrpc.RequestOption
		if tg.version == mqttrpc.V311 {
			subscribe(t, srv, topic+"/{token}", mqttrpc.Typed(echo), mqttrpc.ReplyTopic(topic+"-reply/{token}"))
			opts = append(opts, mqttrpc.TokenReply(topic+"-reply"))
		} else {
			subscribe(t, srv, topic, mqttrpc.Typed(echo))
		}
		ctx := ctxTimeout(t, 10*time.Second)
		_, err := cli.Request(ctx, topic, "warm", opts...) // the reply prefix is subscribed before the locks are held
		require.NoError(t, err)

		release := mqttrpc.HoldStateLocks(srv)
		defer release()
		for i := range 20 {
			body := fmt.Sprint("call ", i)
			reply, err := cli.Request(ctx, topic, body, opts...)
			require.NoError(t, err, "the responder's dispatcher waited on a lock")
			assert.Equal(t, body, string(reply.Body))
		}
	})
}
