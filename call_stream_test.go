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
		served := make(chan mqttrpc.Served, 1)
		server := connect(t, tg, mqttrpc.WithServedHook(func(_ context.Context, s mqttrpc.Served) { served <- s }))
		client := connect(t, tg)
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
		assert.Equal(t, mqttrpc.StatusCanceled, receive(t, served).Status,
			"the middleware and hooks see the cancel as the caller does, not a 503")
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

// fakeExecutor serves tp with script, which publishes what it likes to the
// request's Response Topic with the request's Correlation Data.
func fakeExecutor(t *testing.T, b *mqttrpc.Broker, tp string, script func(emit func(stream string, body string))) {
	subscribe(t, b, tp, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		if m.Header("__stream") != "d:0" && m.Header("__stream")[:4] != "d:0:" {
			return nil, nil // the end of the request stream
		}
		script(func(stream, body string) {
			h := map[string]string{"__stream": stream}
			if stream == "s:0" {
				h["__stat"], h["__stMsg"] = "500", body
			}
			require.NoError(t, b.Publish(ctx, m.ReplyTo, body, mqttrpc.QoS(1), mqttrpc.CorrelationID(m.CorrelationID), mqttrpc.Headers(h)))
		})
		return nil, nil
	}), mqttrpc.NoReply(), mqttrpc.QoS(1))
}

func collect(t *testing.T, b *mqttrpc.Broker, tp string, opts ...mqttrpc.RequestOption) (bodies []string, idx []int, last error) {
	for m, err := range b.Stream(ctxTimeout(t, 10*time.Second), tp, nil, append(opts, mqttrpc.QoS(1))...) {
		if err != nil {
			last = err
			continue
		}
		bodies, idx = append(bodies, string(m.Body)), append(idx, m.StreamIndex())
	}
	return bodies, idx, last
}

// Responses out of order are put in order; repeated and out-of-range
// indexes, a second last and what comes after the last are dropped and
// counted.
func TestStreamBadResponses(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "bad")
		fakeExecutor(t, server, tp, func(emit func(string, string)) {
			emit("d:1", "b")
			emit("d:0", "a")
			emit("d:0", "a again")    // repeated
			emit("d:99999", "far")    // beyond what is kept
			emit("x:1", "malformed")  // not understood
			emit("c:3:last", "")      // the end, before d:2
			emit("c:3:last", "")      // a second last
			emit("d:2", "c")          // fills the gap
			emit("d:3", "after last") // after the last
		})
		bodies, idx, err := collect(t, client, tp)
		require.NoError(t, err)
		require.Equal(t, []string{"a", "b", "c"}, bodies)
		require.Equal(t, []int{0, 1, 2}, idx)
		require.Eventually(t, func() bool {
			st := client.Stats()
			return st.StreamResponsesDropped+st.DroppedReplies >= 5
		}, 10*time.Second, time.Millisecond, "%+v", client.Stats())
		require.GreaterOrEqual(t, client.Stats().StreamResponsesDropped, uint64(4), "%+v", client.Stats())
	})
}

// A response lost for good ends the stream with an error naming its index.
func TestStreamGapNamesIndex(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "gap")
		fakeExecutor(t, server, tp, func(emit func(string, string)) {
			emit("d:0", "a")
			emit("d:2", "c")
			emit("c:3:last", "")
		})
		bodies, _, err := collect(t, client, tp, mqttrpc.IdleTimeout(100*time.Millisecond))
		require.Equal(t, []string{"a"}, bodies)
		require.ErrorIs(t, err, mqttrpc.ErrStreamBroken)
		index, ok := mqttrpc.LostResponse(err)
		require.True(t, ok, "the error names the lost response: %v", err)
		require.Equal(t, 1, index)
	})
}

// A status ends the stream with the error it carries.
func TestStreamStatusEnds(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "status")
		fakeExecutor(t, server, tp, func(emit func(string, string)) {
			emit("d:0", "a")
			emit("s:0", "broke")
		})
		bodies, _, err := collect(t, client, tp)
		require.Equal(t, []string{"a"}, bodies)
		var re *mqttrpc.RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "broke", re.Message)
	})
}

// Responses with Correlation Data of no stream are dropped; the stream
// they were aimed at is not affected.
func TestStreamUnknownCorrelation(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "foreign")
		subscribe(t, server, tp, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			if m.Header("__stream")[0] != 'd' {
				return nil, nil
			}
			h := map[string]string{"__stream": "d:0"}
			require.NoError(t, server.Publish(ctx, m.ReplyTo, "forged", mqttrpc.QoS(1), mqttrpc.CorrelationID("not-"+m.CorrelationID), mqttrpc.Headers(h)))
			require.NoError(t, server.Publish(ctx, m.ReplyTo, "real", mqttrpc.QoS(1), mqttrpc.CorrelationID(m.CorrelationID), mqttrpc.Headers(h)))
			h = map[string]string{"__stream": "c:1:last"}
			require.NoError(t, server.Publish(ctx, m.ReplyTo, nil, mqttrpc.QoS(1), mqttrpc.CorrelationID(m.CorrelationID), mqttrpc.Headers(h)))
			return nil, nil
		}), mqttrpc.NoReply(), mqttrpc.QoS(1))
		bodies, _, err := collect(t, client, tp)
		require.NoError(t, err)
		require.Equal(t, []string{"real"}, bodies)
		require.EqualValues(t, 1, client.Stats().DroppedReplies)
	})
}

// Cancels for calls that are not running, repeated and in a flood, change
// nothing: they are counted, and a running call is unaffected.
func TestCancelUnknownAndFlood(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "victim")
		release := make(chan struct{})
		subscribe(t, server, tp, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			select {
			case <-release:
				return &mqttrpc.Response{Body: "done"}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}), mqttrpc.QoS(1))
		done := make(chan error, 1)
		go func() {
			reply, err := client.Request(ctxTimeout(t, 10*time.Second), tp, nil, mqttrpc.QoS(1))
			if err == nil && string(reply.Body) != "done" {
				err = fmt.Errorf("reply %q", reply.Body)
			}
			done <- err
		}()
		cancel := map[string]string{"__stream": "s:0", "__stat": "499"}
		const flood = 500
		for i := range flood {
			require.NoError(t, client.Publish(ctxTimeout(t, 10*time.Second), tp, nil,
				mqttrpc.CorrelationID(fmt.Sprint("unknown-", i)), mqttrpc.ReplyTo("nobody/"+fmt.Sprint(i)), mqttrpc.Headers(cancel)))
		}
		require.Eventually(t, func() bool { return server.Stats().CancelsIgnored == flood }, 10*time.Second, time.Millisecond)
		close(release)
		require.NoError(t, receive(t, done))
		require.Zero(t, server.Stats().Canceled)
	})
}

func TestStreamInfoMarksStreaming(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		svc, err := b.Service(ctxTimeout(t, 10*time.Second), mqttrpc.ServiceConfig{Name: "fw", Version: "1.0.0"})
		require.NoError(t, err)
		t.Cleanup(func() { _ = svc.Stop(context.Background()) })
		base := uniqueTopic(t, "fw")
		_, err = svc.Endpoint(ctxTimeout(t, 10*time.Second), "update", base+"/update", mqttrpc.TypedStream(countTo))
		require.NoError(t, err)
		_, err = svc.Endpoint(ctxTimeout(t, 10*time.Second), "version", base+"/version", mqttrpc.Typed(echo))
		require.NoError(t, err)
		eps := svc.Info().Endpoints
		require.Len(t, eps, 2)
		byName := map[string]bool{}
		for _, e := range eps {
			byName[e.Name] = e.Streaming
		}
		require.Equal(t, map[string]bool{"update": true, "version": false}, byName)
	})
}

// A loop that falls further behind than ReplyBuffer breaks its stream: the
// responses dropped for want of room leave a gap, and the error says why.
func TestStreamFallsBehind(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "behind")
		taken, sent := make(chan struct{}), make(chan struct{})
		subscribe(t, server, tp, mqttrpc.TypedStream(func(ctx context.Context, n int, send func(string) error) error {
			defer close(sent)
			if err := send("first"); err != nil {
				return err
			}
			<-taken // the rest come while the loop is busy with the first
			return countTo(ctx, n, send)
		}), mqttrpc.QoS(1))
		const buffer = 5
		n := 0
		var last error
		for m, err := range client.Stream(ctxTimeout(t, 10*time.Second), tp, 50, mqttrpc.ReplyBuffer(buffer)) {
			if err != nil {
				last = err
				break
			}
			if n++; n == 1 { // a loop body slower than the handler
				require.NotNil(t, m)
				close(taken)
				receive(t, sent)
				require.Eventually(t, func() bool { return mqttrpc.HeldReplies(client) == buffer }, 10*time.Second, time.Millisecond)
				require.Eventually(t, func() bool { return mqttrpc.InboxDrops(client) > 0 }, 10*time.Second, time.Millisecond, "the rest come, and are dropped")
			}
		}
		require.ErrorIs(t, last, mqttrpc.ErrStreamBroken)
		require.ErrorContains(t, last, fmt.Sprintf("fell %d responses behind", buffer))
		require.Less(t, n, 50)
		require.Zero(t, mqttrpc.PendingRequests(client))
		const responses = 1 + 50 + 1 // "first", the count, and the end
		require.Eventually(t, func() bool {
			s := client.Stats()
			return uint64(n)+s.StreamResponsesDropped+s.DroppedReplies == responses
		}, 10*time.Second, time.Millisecond, "every response is taken or counted as dropped")
		assert.Positive(t, client.Stats().StreamResponsesDropped, "dropped for want of room")
	})
}

// A stream still waiting when its Broker closes ends with ErrClosed, and
// one started after gets it at once.
func TestStreamEndsOnClose(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		server, client := connect(t, tg), connect(t, tg)
		tp := uniqueTopic(t, "close")
		release := make(chan struct{})
		subscribe(t, server, tp, mqttrpc.TypedStream(func(ctx context.Context, _ int, send func(string) error) error {
			if err := send("first"); err != nil {
				return err
			}
			<-release // a closing caller sends no cancel
			return nil
		}))
		got := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			var last error
			for m, err := range client.Stream(context.Background(), tp, 0, mqttrpc.Timeout(time.Minute), mqttrpc.IdleTimeout(time.Minute)) {
				if m != nil {
					close(got)
				}
				last = err
			}
			done <- last
		}()
		receive(t, got)
		require.NoError(t, client.Close(ctxTimeout(t, 5*time.Second)))
		close(release)
		assert.ErrorIs(t, receive(t, done), mqttrpc.ErrClosed)
		for _, err := range client.Stream(context.Background(), tp, 0) {
			assert.ErrorIs(t, err, mqttrpc.ErrClosed)
		}
	})
}
