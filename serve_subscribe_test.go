package mqttrpc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestPatterns: named levels subscribe as wildcards and reach the handler
// through Message.Param, for raw and typed handlers alike, in a group too.
func TestPatterns(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		base := uniqueTopic(t, "site")
		var opts []mqttrpc.SubscribeOption
		var ropts []mqttrpc.RequestOption
		if tg.version == mqttrpc.V311 {
			opts = append(opts, mqttrpc.ReplyTopic(base+"-replies"))
			ropts = append(ropts, mqttrpc.ReplyTo(base+"-replies"))
		}
		site := srv.Group(base+"/{site}", opts...)
		s := subscribe(t, srv, base+"/{site}/devices/{id}/reboot", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			return &mqttrpc.Response{Body: "rebooted " + m.Param("id") + " at " + m.Param("site") + m.Param("nothing")}, nil
		}), opts...)
		assert.Equal(t, base+"/+/devices/+/reboot", s.Filter())
		assert.Equal(t, base+"/{site}/devices/{id}/reboot", s.Pattern())
		_, err := site.Subscriber(ctxTimeout(t, 5*time.Second), "logs/{rest...}", mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			m := mqttrpc.MessageFromContext(ctx)
			m.SetReplyHeader("site", m.Param("site"))
			return m.Param("rest") + ":" + in, nil
		}))
		require.NoError(t, err)

		ctx := ctxTimeout(t, 5*time.Second)
		reply, err := cli.Request(ctx, base+"/s1/devices/42/reboot", nil, ropts...)
		require.NoError(t, err)
		assert.Equal(t, "rebooted 42 at s1", string(reply.Body))
		reply, err = cli.Request(ctx, base+"/s2/logs/a/b", "x", ropts...)
		require.NoError(t, err)
		assert.Equal(t, "a/b:x", string(reply.Body))
		if tg.version == mqttrpc.V5 {
			assert.Equal(t, "s2", reply.Header("site"), "a typed handler sets reply headers")
		}
		got, err := mqttrpc.Call[string](ctx, cli, base+"/s3/logs", "y", ropts...)
		require.NoError(t, err)
		assert.Equal(t, ":y", got, "{rest...} is empty for the parent level")
	})
}

func TestSlowHandlerDoesNotBlockOthers(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		slow, fast := newRoute(t, tg, "slow"), newRoute(t, tg, "fast")
		release, running := make(chan struct{}), make(chan struct{}, 3)
		defer close(release)
		subscribe(t, srv, slow.topic, mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			running <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return in, nil
		}), slow.serve(mqttrpc.QoS(1))...)
		subscribe(t, srv, fast.topic, mqttrpc.Typed(echo), fast.serve(mqttrpc.QoS(1))...)

		for range 3 { // occupy the slow handler, several times over
			go func() {
				_, _ = cli.Request(context.Background(), slow.topic, "x", slow.call(mqttrpc.Timeout(3*time.Second))...)
			}()
		}
		receive(t, running)
		for range 20 {
			reply, err := cli.Request(ctxTimeout(t, 2*time.Second), fast.topic, "quick", fast.call(mqttrpc.QoS(1))...)
			require.NoError(t, err)
			assert.Equal(t, "quick", string(reply.Body))
		}
	})
}

func TestHandlersRunConcurrently(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "parallel")
		var g gauge
		release := make(chan struct{})
		sub := subscribe(t, srv, topic, mqttrpc.Typed(func(context.Context, string) (string, error) {
			defer g.enter()()
			<-release
			return "", nil
		}), mqttrpc.Concurrency(4))

		errs := make(chan error, 8)
		for range 8 {
			go func() {
				_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "x")
				errs <- err
			}()
		}
		require.Eventually(t, func() bool { return g.now.Load() == 4 }, 5*time.Second, time.Millisecond,
			"four handlers run at once")
		// Once the other four wait in the queue, a fifth handler could
		// only have started by now.
		require.Eventually(t, func() bool { return mqttrpc.Queued(sub) == 4 }, 5*time.Second, time.Millisecond,
			"four requests wait")
		assert.Equal(t, int32(4), g.peak.Load(), "never more than four")
		close(release)
		for range 8 {
			require.NoError(t, <-errs)
		}
	})
}

func TestOverloadAnswers503(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "busy")
		started, release := make(chan struct{}), make(chan struct{})
		defer close(release)
		subscribe(t, srv, topic, mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			started <- struct{}{}
			<-release
			return in, nil
		}), mqttrpc.Concurrency(1), mqttrpc.QueueLimit(0))

		go func() { _, _ = cli.Request(context.Background(), topic, "first", mqttrpc.Timeout(3*time.Second)) }()
		receive(t, started)
		start := time.Now()
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "second")
		var re *mqttrpc.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, mqttrpc.StatusServiceUnavailable, re.Code)
		assert.Less(t, time.Since(start), time.Second, "refused at once, not at the timeout")
		assert.Equal(t, uint64(1), srv.Stats().Overloaded)
	})
}

func TestUnsubscribe(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "gone")
		sub := subscribe(t, srv, topic, mqttrpc.Typed(echo))
		assert.Equal(t, topic, sub.Filter())
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "x")
		require.NoError(t, err)

		require.NoError(t, sub.Unsubscribe(ctxTimeout(t, 5*time.Second)))
		require.NoError(t, sub.Unsubscribe(ctxTimeout(t, 5*time.Second)), "twice is fine")
		_, err = cli.Request(ctxTimeout(t, 5*time.Second), topic, "x", mqttrpc.QoS(1), mqttrpc.Timeout(300*time.Millisecond))
		assert.True(t, errorIsAny(err, mqttrpc.ErrNoResponders, mqttrpc.ErrTimeout), "got %v", err)

		// The filter is free again.
		subscribe(t, srv, topic, mqttrpc.Typed(echo))
		_, err = cli.Request(ctxTimeout(t, 5*time.Second), topic, "x")
		require.NoError(t, err)
	})
}

func TestSubscriberRejectsBadOptions(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		topic := uniqueTopic(t, "opts")
		subscribe(t, b, topic, mqttrpc.Typed(echo))
		_, err := b.Subscriber(ctxTimeout(t, 10*time.Second), topic, mqttrpc.Typed(echo))
		assert.ErrorIs(t, err, mqttrpc.ErrHandlerExists)
		var oe *mqttrpc.OpError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, mqttrpc.OpError{Op: "subscribe", Topic: topic, Err: mqttrpc.ErrHandlerExists}, *oe)
		_, err = b.Subscriber(ctxTimeout(t, 10*time.Second), topic+"/x", nil)
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument, "nil handler")
		_, err = b.Subscriber(ctxTimeout(t, 10*time.Second), topic+"/x", mqttrpc.Typed(echo), mqttrpc.QoS(3))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument, "QoS 3")
		_, err = b.Subscriber(ctxTimeout(t, 10*time.Second), topic+"/x", mqttrpc.Typed(echo), mqttrpc.Concurrency(0))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument, "concurrency 0")
		_, err = b.Subscriber(ctxTimeout(t, 10*time.Second), topic+"/x", mqttrpc.Typed(echo), mqttrpc.ReplyTopic("r/#"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)

		// A handler whose replies another handler of the Broker would serve,
		// registered either way round.
		subscribe(t, b, topic+"/a", mqttrpc.Typed(echo), mqttrpc.ReplyTopic(topic+"/b"))
		_, err = b.Subscriber(ctxTimeout(t, 10*time.Second), topic+"/b", mqttrpc.Typed(echo))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic, "a/ replies to b/")
		_, err = b.Subscriber(ctxTimeout(t, 10*time.Second), topic+"/c", mqttrpc.Typed(echo), mqttrpc.ReplyTopic(topic+"/a"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic, "c/ replies to a/")
	})
}

func errorIsAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errorsIs(err, target) {
			return true
		}
	}
	return false
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
