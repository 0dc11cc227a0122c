package mqttrpc_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

type point struct {
	X, Y int
}

func TestRequestBodies(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		str := newRoute(t, tg, "string")
		subscribe(t, srv, str.topic, mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
			return "hello " + in, nil
		}), str.serve()...)
		js := newRoute(t, tg, "json")
		subscribe(t, srv, js.topic, mqttrpc.Typed(func(_ context.Context, p point) (point, error) {
			return point{p.Y, p.X}, nil
		}), js.serve()...)
		raw := newRoute(t, tg, "bytes")
		subscribe(t, srv, raw.topic, mqttrpc.Typed(func(_ context.Context, in []byte) ([]byte, error) {
			return append(in, 0xff), nil
		}), raw.serve()...)

		ctx := ctxTimeout(t, 5*time.Second)
		reply, err := cli.Request(ctx, str.topic, "world", str.call()...)
		require.NoError(t, err)
		assert.Equal(t, "hello world", string(reply.Body))

		reply, err = cli.Request(ctx, js.topic, point{1, 2}, js.call()...)
		require.NoError(t, err)
		var p point
		require.NoError(t, reply.Decode(&p))
		assert.Equal(t, point{2, 1}, p)

		reply, err = cli.Request(ctx, raw.topic, []byte{0, 1}, raw.call()...)
		require.NoError(t, err)
		assert.Equal(t, []byte{0, 1, 0xff}, reply.Body)

		if tg.version == mqttrpc.V5 {
			reply, err = cli.Request(ctx, str.topic, "x", str.call()...)
			require.NoError(t, err)
			assert.Equal(t, "text/plain", reply.ContentType)
			reply, err = cli.Request(ctx, js.topic, point{}, js.call()...)
			require.NoError(t, err)
			assert.Equal(t, "application/json", reply.ContentType)
			reply, err = cli.Request(ctx, raw.topic, []byte{}, raw.call()...)
			require.NoError(t, err)
			assert.Empty(t, reply.ContentType)
		}
	})
}

func TestRequestWireProperties(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "props")
		seen := make(chan *mqttrpc.Message, 1)
		budgets := make(chan time.Duration, 1)
		subscribe(t, srv, topic, mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			seen <- m
			deadline, _ := ctx.Deadline()
			budgets <- time.Until(deadline)
			return &mqttrpc.Response{
				Body:    m.Body,
				Headers: map[string]string{"reply-header": m.Header("req-header") + "!"},
			}, nil
		}))

		binaryID := string([]byte{0x00, 0xff, 0xfe, 0x80, 'x'})
		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "ping",
			mqttrpc.Timeout(3*time.Second),
			mqttrpc.Headers(map[string]string{"req-header": "v1"}),
			mqttrpc.CorrelationID(binaryID))
		require.NoError(t, err)
		assert.Equal(t, "ping", string(reply.Body))
		assert.Equal(t, "v1!", reply.Header("reply-header"))
		assert.Equal(t, binaryID, reply.CorrelationID, "binary correlation data must come back byte for byte")

		m := receive(t, seen)
		budget := receive(t, budgets)
		assert.True(t, budget > 2*time.Second && budget <= 3*time.Second,
			"the handler's deadline follows the request's 3 s Message Expiry; it had %v", budget)
		assert.Equal(t, binaryID, m.CorrelationID)
		assert.Equal(t, "v1", m.Header("req-header"))
		assert.Equal(t, "text/plain", m.ContentType)
		assert.Regexp(t, `^mqttrpc/inbox/[0-9a-f]{16}/[0-9a-f]{16}$`, m.ReplyTo)

		// Without an explicit ID the correlation data is a random UUID.
		reply, err = cli.Request(ctxTimeout(t, 5*time.Second), topic, "x")
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, reply.CorrelationID)
		assert.Regexp(t, `^[0-9a-f-]{36}$`, receive(t, seen).CorrelationID)
		receive(t, budgets)
	})
}

func TestRequestTimeout(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cli := connect(t, tg)
		r := newRoute(t, tg, "nobody")
		start := time.Now()
		_, err := cli.Request(context.Background(), r.topic, "x", r.call(mqttrpc.Timeout(200*time.Millisecond))...)
		elapsed := time.Since(start)
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond)
		assert.Less(t, elapsed, 2*time.Second)
		assert.Zero(t, mqttrpc.PendingRequests(cli))

		// The context's own deadline counts the same.
		_, err = cli.Request(ctxTimeout(t, 100*time.Millisecond), r.topic, "x", r.call()...)
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	})
}

func TestDefaultRequestTimeout(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		cli := connect(t, tg, mqttrpc.WithRequestTimeout(150*time.Millisecond))
		start := time.Now()
		_, err := cli.Request(context.Background(), uniqueTopic(t, "nobody"), "x")
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
}

func TestRequestCancel(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		cli := connect(t, tg)
		r := newRoute(t, tg, "cancel")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := cli.Request(ctx, r.topic, "x", r.call()...)
		require.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, mqttrpc.ErrTimeout)
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	})
}

func TestNoResponders(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		if tg.broker.Name == "mochi" {
			t.Skip("mochi acknowledges a PUBLISH before routing it and never sends reason 0x10")
		}
		cli := connect(t, tg)
		start := time.Now()
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), uniqueTopic(t, "nobody"), "x", mqttrpc.QoS(1))
		require.ErrorIs(t, err, mqttrpc.ErrNoResponders)
		assert.Less(t, time.Since(start), time.Second, "no responders must fail at once, not at the timeout")
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	})
}

func TestConcurrentRequests(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		const n = 1000
		var served atomic.Int32
		topic := uniqueTopic(t, "many")
		replies := topic + "-replies" // MQTT 3.1.1: one reply topic, so requests take turns
		subscribe(t, srv, topic+"/+", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
			served.Add(1)
			return "re:" + in, nil
		}), mqttrpc.QoS(1), mqttrpc.ReplyTopic(replies))

		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				body := fmt.Sprintf("req-%d", i)
				var opts []mqttrpc.RequestOption
				if tg.version == mqttrpc.V311 {
					opts = append(opts, mqttrpc.ReplyTo(replies))
				}
				reply, err := cli.Request(ctxTimeout(t, 20*time.Second), fmt.Sprintf("%s/%d", topic, i%10), body,
					append(opts, mqttrpc.QoS(1))...)
				if err != nil {
					errs <- err
					return
				}
				if string(reply.Body) != "re:"+body {
					errs <- fmt.Errorf("request %q got reply %q", body, reply.Body)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		assert.Equal(t, int32(n), served.Load(), "each request handled exactly once")
		assert.Zero(t, mqttrpc.PendingRequests(cli))
		assert.Zero(t, cli.Stats().DroppedReplies, "no reply arrived twice or unasked")
	})
}

func TestCloseFailsRequestsInFlight(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv := connect(t, tg)
		r := newRoute(t, tg, "slow")
		release := make(chan struct{})
		defer close(release)
		started := make(chan struct{}, 10)
		subscribe(t, srv, r.topic, mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return in, nil
		}), r.serve()...)

		cli, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), tg.broker.URL, mqttrpc.WithVersion(tg.version))
		require.NoError(t, err)
		errs := make(chan error, 3)
		for i := range 3 {
			go func() {
				opts := []mqttrpc.RequestOption{mqttrpc.Timeout(10 * time.Second)}
				if tg.version == mqttrpc.V311 {
					opts = append(opts, mqttrpc.ReplyTo(fmt.Sprintf("%s/r%d", r.topic, i)))
				}
				_, err := cli.Request(context.Background(), r.topic, "x", opts...)
				errs <- err
			}()
		}
		for range 3 {
			receive(t, started)
		}
		start := time.Now()
		require.NoError(t, cli.Close(ctxTimeout(t, 5*time.Second)))
		for range 3 {
			require.ErrorIs(t, <-errs, mqttrpc.ErrClosed)
		}
		assert.Less(t, time.Since(start), 2*time.Second)
		assert.Zero(t, mqttrpc.PendingRequests(cli))

		// Everything after Close says ErrClosed; Close itself stays safe.
		_, err = cli.Request(context.Background(), r.topic, "x", r.call()...)
		assert.ErrorIs(t, err, mqttrpc.ErrClosed)
		assert.ErrorIs(t, cli.Publish(context.Background(), r.topic, "x"), mqttrpc.ErrClosed)
		_, err = cli.Subscriber(context.Background(), "any", mqttrpc.Typed(echo))
		assert.ErrorIs(t, err, mqttrpc.ErrClosed)
		assert.NoError(t, cli.Close(context.Background()))
	})
}

func TestInvalidTopics(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		b := connect(t, tg)
		ctx := ctxTimeout(t, 5*time.Second)
		for _, topic := range []string{"", "a/+", "a/#", "a//b", "/a", "a/"} {
			_, err := b.Request(ctx, topic, "x")
			assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic, "Request(%q)", topic)
			assert.ErrorIs(t, b.Publish(ctx, topic, "x"), mqttrpc.ErrInvalidTopic, "Publish(%q)", topic)
		}
		for _, filter := range []string{"", "a/b#", "a/#/b", "a+"} {
			_, err := b.Subscriber(ctx, filter, mqttrpc.Typed(echo))
			assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic, "Subscriber(%q)", filter)
		}
		_, err := b.Request(ctx, "a", "x", mqttrpc.ReplyTo("r/+"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
		_, err = b.Request(ctx, "a", "x", mqttrpc.QoS(3))
		assert.Error(t, err)
		assert.Zero(t, mqttrpc.PendingRequests(b))
	})
}

// TestContentType: a caller and a handler may name the content type of a
// []byte body in a format of their own.
func TestContentType(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "cbor")
		subscribe(t, srv, topic, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			return &mqttrpc.Response{Body: m.Body, ContentType: m.ContentType + "+reply"}, nil
		}))
		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, []byte{0xa1, 0x01, 0x02}, mqttrpc.ContentType("application/cbor"))
		require.NoError(t, err)
		assert.Equal(t, []byte{0xa1, 0x01, 0x02}, reply.Body)
		assert.Equal(t, "application/cbor+reply", reply.ContentType)
	})
}
