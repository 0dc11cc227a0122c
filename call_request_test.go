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

func TestResponseQoSAndRetain(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		r := newRoute(t, tg, "qos")
		replyTopic := r.topic + "/retained-reply"
		subscribe(t, srv, r.topic, mqttrpc.Typed(func(_ context.Context, in string) (*mqttrpc.Response, error) {
			return &mqttrpc.Response{Body: in, QoS: 1, Retain: true}, nil
		}), mqttrpc.QoS(1), mqttrpc.ReplyTopic(replyTopic))

		ctx := ctxTimeout(t, 5*time.Second)
		reply, err := cli.Request(ctx, r.topic, "kept", mqttrpc.ReplyTo(replyTopic))
		require.NoError(t, err)
		assert.Equal(t, "kept", string(reply.Body))
		assert.Equal(t, byte(1), reply.QoS, "the reply goes out at the Response's QoS, whatever the request's")
		t.Cleanup(func() { // clear the retained reply
			_ = cli.Publish(context.Background(), replyTopic, nil, mqttrpc.Retain())
		})

		// A late subscriber still finds the reply: it was retained.
		late := connect(t, tg)
		got := make(chan *mqttrpc.Message, 1)
		subscribe(t, late, replyTopic, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			got <- m
			return nil, nil
		}), mqttrpc.NoReply(), mqttrpc.QoS(1), mqttrpc.AcceptRetained())
		select {
		case m := <-got:
			assert.True(t, m.Retain)
			assert.Equal(t, "kept", string(m.Body))
		case <-time.After(5 * time.Second):
			t.Fatal("retained reply not delivered to a late subscriber")
		}
	})
}

func TestReplyDefaultsToRequestQoS(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		r := newRoute(t, tg, "qos1")
		subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "a", r.call(mqttrpc.QoS(1))...)
		require.NoError(t, err)
		assert.Equal(t, byte(1), reply.QoS)
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

// TestHandlerErrors checks the error reply for each way a handler fails:
// a *RemoteError keeps its code and message; anything else reaches the
// caller with a generic message, unless WithErrorDetails exposes its text.
func TestHandlerErrors(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		dev := connect(t, tg, mqttrpc.WithErrorDetails())
		tests := []struct {
			name       string
			handler    mqttrpc.Handler
			body       any
			wantCode   int
			wantMsg    string // by default
			wantDetail string // with WithErrorDetails
		}{
			{"status error", mqttrpc.Typed(func(context.Context, string) (string, error) {
				return "", mqttrpc.Errorf(404, "device %d unknown", 42)
			}), "x", 404, "device 42 unknown", "device 42 unknown"},
			{"wrapped status error", mqttrpc.Typed(func(context.Context, string) (string, error) {
				return "", fmt.Errorf("lookup: %w", mqttrpc.Errorf(409, "busy"))
			}), "x", 409, "busy", "busy"},
			{"plain error", mqttrpc.Typed(func(context.Context, string) (string, error) {
				return "", errors.New("disk full")
			}), "x", 500, "internal error", "internal error: disk full"},
			{"panic", mqttrpc.Typed(func(context.Context, string) (string, error) {
				panic("boom")
			}), "x", 500, "internal error", "internal error: panic: boom"},
			{"undecodable payload", mqttrpc.Typed(func(_ context.Context, p point) (point, error) {
				return p, nil
			}), "not json", 400, "payload does not decode", "payload does not decode: payload encoding: decode into *mqttrpc_test.point: invalid character 'o' in literal null (expecting 'u')"},
			{"unencodable reply", mqttrpc.Typed(func(context.Context, string) (func(), error) {
				return func() {}, nil
			}), "x", 500, "internal error", "internal error: payload encoding: encode func(): json: unsupported type: func()"},
			{"deadline passed", mqttrpc.Typed(func(ctx context.Context, _ string) (string, error) {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond) // a query with its own deadline
				defer cancel()
				<-ctx.Done()
				return "", fmt.Errorf("query: %w", ctx.Err())
			}), "x", 408, "handler timed out", "handler timed out: query: context deadline exceeded"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, side := range []struct {
					srv  *mqttrpc.Broker
					want string
				}{{srv, tt.wantMsg}, {dev, tt.wantDetail}} {
					topic := uniqueTopic(t, "fail")
					subscribe(t, side.srv, topic, tt.handler)
					for range 2 { // the service keeps serving after each failure
						_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, tt.body, mqttrpc.Timeout(2*time.Second))
						var re *mqttrpc.RemoteError
						require.ErrorAs(t, err, &re)
						assert.Equal(t, tt.wantCode, re.Code)
						assert.Equal(t, side.want, re.Message)
					}
				}
			})
		}
		assert.Equal(t, uint64(2), srv.Stats().Panics)
	})
}

func TestNoReply(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		r := newRoute(t, tg, "noreply")
		var calls atomic.Int32
		subscribe(t, srv, r.topic, mqttrpc.Typed(func(context.Context, string) (string, error) {
			calls.Add(1)
			return "unwanted", nil
		}), r.serve(mqttrpc.NoReply())...)
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "x", r.call(mqttrpc.Timeout(300*time.Millisecond))...)
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
		assert.Equal(t, int32(1), calls.Load(), "the handler ran; only its reply was withheld")
	})
}

func TestRequestWithoutResponseTopicGetsNoReply(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli, sniffer := connect(t, tg), connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "event")
		handled := make(chan struct{}, 1)
		subscribe(t, srv, topic, mqttrpc.Typed(func(context.Context, string) (string, error) {
			handled <- struct{}{}
			return "", errors.New("even an error is not answered")
		}))
		var seen atomic.Int32
		subscribe(t, sniffer, "#", mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			seen.Add(1)
			return nil, nil
		}), mqttrpc.NoReply())

		require.NoError(t, cli.Publish(ctxTimeout(t, 5*time.Second), topic, "fire and forget"))
		select {
		case <-handled:
		case <-time.After(5 * time.Second):
			t.Fatal("handler not called")
		}
		// Once the handler is done and its reply, if any, sent, a marker from
		// the same connection reaches the sniffer after that reply.
		settle(t, srv)
		require.NoError(t, srv.Publish(ctxTimeout(t, 5*time.Second), topic+"/marker", "end", mqttrpc.QoS(1)))
		require.Eventually(t, func() bool { return seen.Load() >= 2 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, int32(2), seen.Load(), "only the request and the marker were published")
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
