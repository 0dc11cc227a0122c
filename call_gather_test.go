package mqttrpc_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// responders starts n Brokers on tg, each answering r with its own name.
func responders(t *testing.T, tg target, r route, n int) []*mqttrpc.Broker {
	t.Helper()
	out := make([]*mqttrpc.Broker, n)
	for i := range out {
		out[i] = connect(t, tg)
		name := fmt.Sprint("responder-", i)
		subscribe(t, out[i], r.pattern(), mqttrpc.Typed(func(context.Context, string) (string, error) { return name, nil }), r.serve()...)
	}
	return out
}

func TestGather(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		r := newRoute(t, tg, "gather")
		responders(t, tg, r, 3)
		cli := connect(t, tg)

		t.Run("every reply until MaxReplies", func(t *testing.T) {
			var got []string
			for m, err := range cli.Gather(ctxTimeout(t, 10*time.Second), r.topic, "who", r.call(mqttrpc.MaxReplies(3))...) {
				require.NoError(t, err)
				got = append(got, string(m.Body))
			}
			sort.Strings(got)
			assert.Equal(t, []string{"responder-0", "responder-1", "responder-2"}, got)
			assert.Zero(t, mqttrpc.PendingRequests(cli))
		})

		t.Run("until the timeout, which is no error", func(t *testing.T) {
			start := time.Now()
			n := 0
			for _, err := range cli.Gather(context.Background(), r.topic, "who", r.call(mqttrpc.Timeout(time.Second))...) {
				require.NoError(t, err)
				n++
			}
			assert.GreaterOrEqual(t, time.Since(start), time.Second)
			assert.Equal(t, 3, n)
			assert.Zero(t, mqttrpc.PendingRequests(cli))
		})

		t.Run("break forgets the request", func(t *testing.T) {
			for _, err := range cli.Gather(ctxTimeout(t, 10*time.Second), r.topic, "who", r.call()...) {
				require.NoError(t, err)
				break
			}
			assert.Zero(t, mqttrpc.PendingRequests(cli))
		})
	})
}

// TestGatherTokenReply: with TokenReply, Gather collects its replies on the
// token's reply topic, on MQTT 3.1.1 as on MQTT 5.
func TestGatherTokenReply(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		r := tokenRoute(t, "gather")
		responders(t, tg, r, 2)
		cli := connect(t, tg)
		var got []string
		for m, err := range cli.Gather(ctxTimeout(t, 10*time.Second), r.topic, "who", r.call(mqttrpc.MaxReplies(2))...) {
			require.NoError(t, err)
			assert.Regexp(t, "^"+r.reply+"/[0-9a-f]+$", m.Topic)
			got = append(got, string(m.Body))
		}
		sort.Strings(got)
		assert.Equal(t, []string{"responder-0", "responder-1"}, got)
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	})
}

func TestGatherRemoteErrors(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		topic := uniqueTopic(t, "gather-errors")
		good, bad := connect(t, tg), connect(t, tg)
		subscribe(t, good, topic, mqttrpc.Typed(echo))
		subscribe(t, bad, topic, mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			return nil, mqttrpc.Errorf(409, "busy")
		}))
		cli := connect(t, tg)
		var ok, failed int
		for m, err := range cli.Gather(ctxTimeout(t, 10*time.Second), topic, "hi", mqttrpc.MaxReplies(2)) {
			require.NotNil(t, m, "a reply comes with its error")
			var re *mqttrpc.RemoteError
			if err != nil {
				require.ErrorAs(t, err, &re)
				assert.Equal(t, 409, re.Code)
				failed++
				continue
			}
			assert.Equal(t, "hi", string(m.Body))
			ok++
		}
		assert.Equal(t, 1, ok)
		assert.Equal(t, 1, failed)
	})
}

func TestGatherErrors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		cli := connect(t, tg)
		collect := func(seq func(func(*mqttrpc.Message, error) bool)) (n int, errs []error) {
			for m, err := range seq {
				if m != nil {
					n++
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return n, errs
		}
		ctx := ctxTimeout(t, 10*time.Second)

		_, errs := collect(cli.Gather(ctx, "a/+/b", nil))
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], mqttrpc.ErrInvalidTopic)

		_, errs = collect(cli.Gather(ctx, uniqueTopic(t, "x"), nil, mqttrpc.MaxReplies(-1)))
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], mqttrpc.ErrInvalidArgument)

		if tg.version == mqttrpc.V311 {
			_, errs = collect(cli.Gather(ctx, uniqueTopic(t, "x"), nil))
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], mqttrpc.ErrFeatureNotSupported)
		} else {
			_, errs = collect(cli.Gather(ctx, uniqueTopic(t, "nobody"), nil, mqttrpc.QoS(1), mqttrpc.Timeout(5*time.Second)))
			if tg.broker.Name == "mosquitto" { // mochi never answers 0x10
				require.Len(t, errs, 1)
				assert.ErrorIs(t, errs[0], mqttrpc.ErrNoResponders)
			}
		}
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	})
}

// TestGatherEndsOnClose: a Gather still waiting when its Broker closes ends
// with ErrClosed, and one started after gets it at once.
func TestGatherEndsOnClose(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		topic := uniqueTopic(t, "gather-close")
		srv := connect(t, tg)
		subscribe(t, srv, topic, mqttrpc.Typed(echo))
		cli := connect(t, tg)
		got := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			var last error
			for m, err := range cli.Gather(context.Background(), topic, "hi", mqttrpc.Timeout(time.Minute)) {
				if m != nil {
					close(got)
				}
				last = err
			}
			done <- last
		}()
		receive(t, got)
		require.NoError(t, cli.Close(ctxTimeout(t, 5*time.Second)))
		assert.ErrorIs(t, receive(t, done), mqttrpc.ErrClosed)
		for _, err := range cli.Gather(context.Background(), topic, "hi") {
			assert.ErrorIs(t, err, mqttrpc.ErrClosed)
		}
	})
}

// TestGatherHoldsABurst: a fleet answers in a burst that the loop does not
// keep pace with. Every reply that came before the deadline is yielded, up
// to ReplyBuffer; beyond it, the sequence ends saying replies were dropped.
func TestGatherHoldsABurst(t *testing.T) {
	const burst = 500
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "fleet")
		// One responder that answers as a fleet would: many replies at once.
		subscribe(t, srv, topic, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			for i := range burst {
				if err := srv.Publish(ctx, m.ReplyTo, fmt.Sprint(i), mqttrpc.CorrelationID(m.CorrelationID)); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}), mqttrpc.NoReply())

		gather := func(t *testing.T, opts ...mqttrpc.RequestOption) (got int, err error) {
			dropped := cli.Stats().DroppedReplies
			for m, err := range cli.Gather(context.Background(), topic, "who", append(opts, mqttrpc.Timeout(5*time.Second))...) {
				if err != nil {
					return got, err
				}
				if got++; got == 1 { // a loop body slower than the fleet: the rest arrive meanwhile
					require.NotNil(t, m)
					require.Eventually(t, func() bool {
						return mqttrpc.HeldReplies(cli)+int(cli.Stats().DroppedReplies-dropped) == burst-1
					}, 10*time.Second, time.Millisecond)
				}
			}
			return got, nil
		}

		t.Run("default buffer", func(t *testing.T) {
			got, err := gather(t, mqttrpc.MaxReplies(burst))
			require.NoError(t, err)
			assert.Equal(t, burst, got)
		})
		t.Run("small buffer", func(t *testing.T) {
			before := cli.Stats().DroppedReplies
			got, err := gather(t, mqttrpc.ReplyBuffer(10))
			require.ErrorIs(t, err, mqttrpc.ErrRepliesDropped, "the loss is said, not only counted")
			lost := int(cli.Stats().DroppedReplies - before)
			assert.Equal(t, burst, got+lost, "every reply is either yielded or counted as dropped")
			assert.LessOrEqual(t, got, 11)
		})
	})
}
