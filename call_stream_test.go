package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// countTo streams n responses, "0" to "n-1", then ends.
func countTo(_ context.Context, n int, send func(string) error) error {
	for i := range n {
		if err := send(fmt.Sprint(i)); err != nil {
			return err
		}
	}
	return nil
}

func TestStreamInOrder(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		for _, qos := range []byte{0, 1} {
			t.Run(fmt.Sprint("qos", qos), func(t *testing.T) {
				b := connect(t, tg)
				tp := uniqueTopic(t, "count")
				subscribe(t, b, tp, mqttrpc.TypedStream(countTo), mqttrpc.QoS(qos))
				var got []string
				for m, err := range b.Stream(ctxTimeout(t, 10*time.Second), tp, 200, mqttrpc.QoS(qos)) {
					require.NoError(t, err)
					require.Equal(t, len(got), m.StreamIndex())
					got = append(got, string(m.Body))
				}
				require.Len(t, got, 200)
				for i, s := range got {
					require.Equal(t, fmt.Sprint(i), s)
				}
				st := b.Stats()
				assert.EqualValues(t, 1, st.StreamsOpened)
				assert.EqualValues(t, 1, st.StreamsCompleted)
				assert.EqualValues(t, 0, st.StreamsCanceled)
				assert.EqualValues(t, 1, st.StreamsServed)
			})
		}
	})
}

func TestStreamTyped(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		tp := uniqueTopic(t, "typed")
		type progress struct{ Percent int }
		subscribe(t, b, tp, mqttrpc.TypedStream(func(ctx context.Context, steps int, send func(progress) error) error {
			for i := 0; i <= steps; i++ {
				if err := send(progress{Percent: i * 100 / steps}); err != nil {
					return err
				}
			}
			return nil
		}), mqttrpc.QoS(1))
		var pct []int
		for p, err := range mqttrpc.CallStream[progress](ctxTimeout(t, 10*time.Second), b, tp, 4, mqttrpc.QoS(1)) {
			require.NoError(t, err)
			pct = append(pct, p.Percent)
		}
		require.Equal(t, []int{0, 25, 50, 75, 100}, pct)
	})
}

func TestStreamEmptyAndError(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		empty, failing := uniqueTopic(t, "empty"), uniqueTopic(t, "failing")
		subscribe(t, b, empty, mqttrpc.StreamFunc(func(context.Context, *mqttrpc.Message, *mqttrpc.Sender) error { return nil }))
		subscribe(t, b, failing, mqttrpc.StreamFunc(func(_ context.Context, _ *mqttrpc.Message, s *mqttrpc.Sender) error {
			if err := s.Send("one"); err != nil {
				return err
			}
			return mqttrpc.Errorf(409, "disk full")
		}), mqttrpc.QoS(1))
		n := 0
		for _, err := range b.Stream(ctxTimeout(t, 10*time.Second), empty, nil) {
			require.NoError(t, err)
			n++
		}
		require.Zero(t, n)

		var got []string
		var last error
		for m, err := range b.Stream(ctxTimeout(t, 10*time.Second), failing, nil, mqttrpc.QoS(1)) {
			if err != nil {
				last = err
				continue
			}
			got = append(got, string(m.Body))
		}
		require.Equal(t, []string{"one"}, got)
		var re *mqttrpc.RemoteError
		require.ErrorAs(t, last, &re)
		require.Equal(t, 409, re.Code)
		require.Equal(t, "disk full", re.Message)
	})
}

// A streaming request to a handler that does not stream, and a plain
// request to one that does, get a 400 error reply.
func TestStreamKindMismatch(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		plain, streaming := uniqueTopic(t, "plain"), uniqueTopic(t, "streaming")
		subscribe(t, b, plain, mqttrpc.Typed(echo))
		subscribe(t, b, streaming, mqttrpc.TypedStream(countTo))
		var re *mqttrpc.RemoteError
		for m, err := range b.Stream(ctxTimeout(t, 10*time.Second), plain, "x") {
			require.Nil(t, m)
			require.ErrorAs(t, err, &re)
			require.Equal(t, mqttrpc.StatusBadRequest, re.Code)
		}
		_, err := b.Request(ctxTimeout(t, 10*time.Second), streaming, 3)
		require.ErrorAs(t, err, &re)
		require.Equal(t, mqttrpc.StatusBadRequest, re.Code)
	})
}

func TestStreamNotOnV311(t *testing.T) {
	for _, bk := range brokertest.All(t) {
		b := connect(t, target{broker: bk, version: mqttrpc.V311})
		for _, err := range b.Stream(ctxTimeout(t, 10*time.Second), uniqueTopic(t, "x"), nil) {
			require.ErrorIs(t, err, mqttrpc.ErrFeatureNotSupported)
		}
	}
}

// The loop stopping early cancels the handler, which sees why.
func TestStreamCancelOnBreak(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		tp := uniqueTopic(t, "endless")
		cause := make(chan error, 1)
		subscribe(t, b, tp, mqttrpc.StreamFunc(func(ctx context.Context, _ *mqttrpc.Message, s *mqttrpc.Sender) error {
			for i := 0; ; i++ {
				if err := s.Send(i); err != nil {
					cause <- context.Cause(ctx)
					assert.ErrorIs(t, err, mqttrpc.ErrCallerCanceled)
					return err
				}
			}
		}), mqttrpc.QoS(1))
		for m, err := range b.Stream(ctxTimeout(t, 10*time.Second), tp, nil, mqttrpc.QoS(1)) {
			require.NoError(t, err)
			if m.StreamIndex() == 10 {
				break
			}
		}
		require.ErrorIs(t, receive(t, cause), mqttrpc.ErrCallerCanceled)
		require.EqualValues(t, 1, b.Stats().StreamsCanceled)
		require.Eventually(t, func() bool { return b.Stats().Canceled == 1 }, 10*time.Second, time.Millisecond)
	})
}

// A cancel reaches a handler blocked in work, for a plain request too.
func TestCancelReachesBlockedHandler(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "slow")
		started, cause := make(chan struct{}, 1), make(chan error, 1)
		subscribe(t, server, tp, mqttrpc.HandlerFunc(func(ctx context.Context, _ *mqttrpc.Message) (*mqttrpc.Response, error) {
			started <- struct{}{}
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		}), mqttrpc.QoS(1))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := client.Request(ctx, tp, "work", mqttrpc.QoS(1), mqttrpc.Timeout(time.Minute))
			done <- err
		}()
		receive(t, started)
		cancel()
		require.ErrorIs(t, receive(t, done), context.Canceled)
		require.ErrorIs(t, receive(t, cause), mqttrpc.ErrCallerCanceled)
		require.EqualValues(t, 1, server.Stats().Canceled)
	})
}

func TestStreamCancelOnContext(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "firmware")
		cause := make(chan error, 1)
		subscribe(t, server, tp, mqttrpc.StreamFunc(func(ctx context.Context, _ *mqttrpc.Message, s *mqttrpc.Sender) error {
			if err := s.Send("started"); err != nil {
				return err
			}
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		}), mqttrpc.QoS(1))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var last error
		for m, err := range client.Stream(ctx, tp, nil, mqttrpc.QoS(1)) {
			if err != nil {
				last = err
				break
			}
			require.Equal(t, "started", string(m.Body))
			cancel()
		}
		require.ErrorIs(t, last, context.Canceled)
		require.ErrorIs(t, receive(t, cause), mqttrpc.ErrCallerCanceled)
	})
}

// The idle timeout ends a stream whose handler falls silent, and cancels it.
func TestStreamIdleTimeout(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		tp := uniqueTopic(t, "silent")
		cause := make(chan error, 1)
		subscribe(t, b, tp, mqttrpc.StreamFunc(func(ctx context.Context, _ *mqttrpc.Message, s *mqttrpc.Sender) error {
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil
		}))
		var last error
		for _, err := range b.Stream(ctxTimeout(t, 10*time.Second), tp, nil, mqttrpc.IdleTimeout(50*time.Millisecond)) {
			last = err
		}
		require.ErrorIs(t, last, mqttrpc.ErrTimeout)
		require.ErrorIs(t, receive(t, cause), mqttrpc.ErrCallerCanceled)
	})
}

var _ = errors.Is
