package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

var errorsIs = errors.Is

// forEachV311 runs fn on MQTT 3.1.1 on every broker.
func forEachV311(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Helper()
	for _, b := range brokertest.All(t) {
		tg := target{broker: b, version: mqttrpc.V311}
		t.Run(tg.String(), func(t *testing.T) { fn(t, tg) })
	}
}

func TestV311RequestNeedsReplyTo(t *testing.T) {
	forEachV311(t, func(t *testing.T, tg target) {
		cli, sniffer := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "noreplyto")
		seen := make(chan string, 2)
		subscribe(t, sniffer, topic, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			seen <- string(m.Body)
			return nil, nil
		}), mqttrpc.NoReply())

		start := time.Now()
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "x")
		require.ErrorIs(t, err, mqttrpc.ErrFeatureNotSupported)
		assert.Less(t, time.Since(start), time.Second, "fails at once, not at the timeout")
		// A message published after it arrives after it: the first the
		// sniffer sees shows whether the request went out.
		require.NoError(t, cli.Publish(ctxTimeout(t, 5*time.Second), topic, "after", mqttrpc.QoS(1)))
		assert.Equal(t, "after", receive(t, seen), "nothing was published")
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	})
}

// TestV311SharedReplyTopic shows that requests sharing a reply topic take
// turns, while requests on different reply topics run side by side.
func TestV311SharedReplyTopic(t *testing.T) {
	forEachV311(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "turns")
		var g gauge
		subscribe(t, srv, topic, mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
			defer g.enter()()
			time.Sleep(50 * time.Millisecond)
			return in, nil
		}), mqttrpc.ReplyTopic(topic+"/reply"))

		run := func(replyTopic func(i int) string) {
			errs := make(chan error, 4)
			for i := range 4 {
				go func() {
					body := fmt.Sprint(i)
					reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, body, mqttrpc.ReplyTo(replyTopic(i)))
					if err == nil && string(reply.Body) != body {
						err = fmt.Errorf("request %s got reply %s", body, reply.Body)
					}
					errs <- err
				}()
			}
			for range 4 {
				require.NoError(t, <-errs)
			}
		}
		run(func(int) string { return topic + "/reply" })
		assert.Equal(t, int32(1), g.peak.Load(), "one reply topic: one request at a time")
	})
}

// TestV311SeparateReplyTopics shows that requests on different reply topics
// do not wait for each other: each handler only returns once both run.
func TestV311SeparateReplyTopics(t *testing.T) {
	forEachV311(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		a, b := newRoute(t, tg, "a"), newRoute(t, tg, "b")
		var arrived atomic.Int32
		both := make(chan struct{})
		barrier := mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			if arrived.Add(1) == 2 {
				close(both)
			}
			select {
			case <-both:
				return in, nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		})
		subscribe(t, srv, a.topic, barrier, a.serve()...)
		subscribe(t, srv, b.topic, barrier, b.serve()...)

		errs := make(chan error, 2)
		for _, r := range []route{a, b} {
			go func() {
				_, err := cli.Request(ctxTimeout(t, 3*time.Second), r.topic, "x", r.call()...)
				errs <- err
			}()
		}
		require.NoError(t, <-errs)
		require.NoError(t, <-errs)
	})
}

// TestV311HandlerErrorSendsNoReply: MQTT 3.1.1 cannot carry an error reply,
// and an empty one would read as success, so the caller times out instead.
func TestV311HandlerErrorSendsNoReply(t *testing.T) {
	forEachV311(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		r := newRoute(t, tg, "fails")
		subscribe(t, srv, r.topic, mqttrpc.Typed(func(context.Context, string) (string, error) {
			return "", errors.New("no")
		}), r.serve()...)
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "x", r.call(mqttrpc.Timeout(300*time.Millisecond))...)
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
	})
}

// TestV311LateReplyIsCounted: a reply that arrives after its request gave
// up is dropped and counted; the next request gets its own reply.
func TestV311LateReplyIsCounted(t *testing.T) {
	forEachV311(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		r := newRoute(t, tg, "late")
		gaveUp := make(chan struct{})
		subscribe(t, srv, r.topic, mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
			if in == "slow" {
				<-gaveUp // answer only once the caller has stopped waiting
			}
			return in, nil
		}), r.serve()...)

		_, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "slow", r.call(mqttrpc.Timeout(100*time.Millisecond))...)
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
		close(gaveUp)
		assert.Eventually(t, func() bool { return cli.Stats().DroppedReplies == 1 }, 5*time.Second, 5*time.Millisecond)

		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "next", r.call()...)
		require.NoError(t, err)
		assert.Equal(t, "next", string(reply.Body))
	})
}
