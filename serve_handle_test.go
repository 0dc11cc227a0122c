package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

func TestExecutionTimeout(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "deadline")
		release := make(chan struct{})
		defer close(release)
		var ctxEnded atomic.Bool
		subscribe(t, srv, topic, mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			if in == "fast" {
				return in, nil
			}
			<-release // ignores its context, as a buggy handler would
			ctxEnded.Store(ctx.Err() != nil)
			return "too late", nil
		}), mqttrpc.ExecutionTimeout(100*time.Millisecond), mqttrpc.Concurrency(2))

		start := time.Now()
		_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "slow")
		var re *mqttrpc.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, mqttrpc.StatusRequestTimeout, re.Code)
		assert.Less(t, time.Since(start), time.Second)

		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, "fast")
		require.NoError(t, err, "the service keeps serving beside the stuck handler")
		assert.Equal(t, "fast", string(reply.Body))
	})
}

func TestMaxPayload(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		srv, cli := connect(t, tg), connect(t, tg)
		topic := uniqueTopic(t, "big")
		var calls atomic.Int32
		subscribe(t, srv, topic, mqttrpc.Typed(func(_ context.Context, in []byte) (int, error) {
			calls.Add(1)
			return len(in), nil
		}), mqttrpc.MaxPayload(1024))

		_, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, make([]byte, 1025))
		var re *mqttrpc.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, mqttrpc.StatusPayloadTooLarge, re.Code)
		assert.Zero(t, calls.Load())

		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), topic, make([]byte, 1024))
		require.NoError(t, err)
		assert.Equal(t, "1024", string(reply.Body))
	})
}

func TestDeduplicate(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		for _, dedup := range []bool{false, true} {
			t.Run(fmt.Sprint("dedup=", dedup), func(t *testing.T) {
				srv, caller := connect(t, tg), connect(t, tg)
				topic := uniqueTopic(t, "transfer")
				var calls atomic.Int32
				opts := []mqttrpc.SubscribeOption{mqttrpc.QoS(1)}
				if dedup {
					opts = append(opts, mqttrpc.Deduplicate(100))
				}
				subscribe(t, srv, topic, mqttrpc.Typed(func(context.Context, string) (string, error) {
					return fmt.Sprint("call ", calls.Add(1)), nil
				}), opts...)
				replies := make(chan string, 4)
				subscribe(t, caller, topic+"/replies", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
					replies <- string(m.Body)
					return nil, nil
				}), mqttrpc.NoReply(), mqttrpc.QoS(1))

				// The same request twice, as a QoS 1 redelivery or a retry would send it.
				for range 2 {
					require.NoError(t, caller.Publish(ctxTimeout(t, 5*time.Second), topic, "move 100",
						mqttrpc.QoS(1), mqttrpc.ReplyTo(topic+"/replies"), mqttrpc.CorrelationID("tx-1")))
				}
				got := []string{receive(t, replies), receive(t, replies)}
				sort.Strings(got)
				if dedup {
					assert.Equal(t, []string{"call 1", "call 1"}, got, "the repeat is answered with the stored reply")
					assert.Equal(t, int32(1), calls.Load())
					assert.Equal(t, uint64(1), srv.Stats().Duplicates)
				} else {
					assert.Equal(t, []string{"call 1", "call 2"}, got)
				}
			})
		}
	})
}
