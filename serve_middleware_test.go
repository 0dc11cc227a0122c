package mqttrpc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The built-in middleware, tested as plain functions: no broker involved.

func ok(body string) Handler {
	return HandlerFunc(func(context.Context, *Message) (*Response, error) { return &Response{Body: body}, nil })
}

func TestRecoverPanics(t *testing.T) {
	var logs bytes.Buffer
	var counted atomic.Int32
	h := recoverPanics(slog.New(slog.NewTextHandler(&logs, nil)), func() { counted.Add(1) })(
		HandlerFunc(func(context.Context, *Message) (*Response, error) { panic("secret value") }))
	resp, err := h.ServeRPC(context.Background(), &Message{Topic: "t"})
	assert.Nil(t, resp)
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, StatusInternalError, re.Code)
	assert.Equal(t, msgInternal, re.Message, "the panic value is not sent")
	var p panicked
	require.ErrorAs(t, re.Unwrap(), &p)
	assert.Equal(t, "secret value", p.value, "the cause keeps the panic value")
	assert.Contains(t, logs.String(), "secret value", "it is logged")
	assert.Equal(t, int32(1), counted.Load())

	resp, err = recoverPanics(slog.New(slog.DiscardHandler), func() { t.Error("no panic") })(ok("fine")).ServeRPC(context.Background(), &Message{})
	require.NoError(t, err)
	assert.Equal(t, "fine", resp.Body)
}

func TestLimitPayload(t *testing.T) {
	h := limitPayload(3)(ok("ran"))
	_, err := h.ServeRPC(context.Background(), &Message{Body: []byte("four")})
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, StatusPayloadTooLarge, re.Code)
	resp, err := h.ServeRPC(context.Background(), &Message{Body: []byte("abc")})
	require.NoError(t, err)
	assert.Equal(t, "ran", resp.Body)
}

func TestExecutionTimeoutMiddleware(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	h := executionTimeout(20 * time.Millisecond)(HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
		<-ctx.Done() // the context ends at the timeout
		<-release    // and the handler may still take its time
		return &Response{Body: "late"}, nil
	}))
	answers := make(chan error, 2)
	m := &Message{}
	m.respond = &replier{answer: func(_ *Message, _ *Response, err error) { answers <- err }}
	go func() {
		defer close(done)
		resp, err := h.ServeRPC(context.Background(), m)
		m.respond.reply(m, resp, err) // as serve does: dropped, the timeout answered
	}()
	err := <-answers
	var re *RemoteError
	require.ErrorAs(t, err, &re, "answered at the timeout, before the handler returned")
	assert.Equal(t, StatusRequestTimeout, re.Code)
	close(release)
	<-done
	assert.Empty(t, answers, "one answer only")
}

func TestDeduplicateMiddleware(t *testing.T) {
	var calls atomic.Int32
	var dups atomic.Int32
	gate := make(chan struct{})
	h := deduplicate(2, func() { dups.Add(1) })(HandlerFunc(func(_ context.Context, m *Message) (*Response, error) {
		<-gate
		return &Response{Body: string(m.Body) + "#" + string(rune('0'+calls.Add(1)))}, nil
	}))
	call := func(topic, corr, body string) string {
		resp, err := h.ServeRPC(context.Background(), &Message{Topic: topic, CorrelationID: corr, Body: []byte(body)})
		require.NoError(t, err)
		return resp.Body.(string)
	}
	close(gate)
	assert.Equal(t, "a#1", call("t", "1", "a"))
	assert.Equal(t, "a#1", call("t", "1", "a"), "a repeat gets the first answer")
	assert.Equal(t, "a#2", call("u", "1", "a"), "another topic is another request")
	assert.Equal(t, "b#3", call("t", "1", "b"), "another payload is another request")
	assert.Equal(t, "a#4", call("t", "", "a"), "no Correlation Data: always runs")
	assert.Equal(t, "a#5", call("t", "", "a"))
	assert.Equal(t, "c#6", call("t", "2", "c"))
	assert.Equal(t, "d#7", call("t", "3", "d"))
	assert.Equal(t, "a#8", call("u", "1", "a"), "evicted: only the last 2 are kept")
	assert.Equal(t, int32(1), dups.Load())
}

var errFailedOnce = errors.New("failed once")

func TestDeduplicateWaitsForTheFirstCopy(t *testing.T) {
	gate := make(chan struct{})
	var calls atomic.Int32
	h := deduplicate(8, func() {})(HandlerFunc(func(context.Context, *Message) (*Response, error) {
		calls.Add(1)
		<-gate
		return nil, errFailedOnce
	}))
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := h.ServeRPC(context.Background(), &Message{Topic: "t", CorrelationID: "x"})
			errs <- err
		})
	}
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	assert.ErrorIs(t, <-errs, errFailedOnce)
	assert.ErrorIs(t, <-errs, errFailedOnce, "the repeat shares the first copy's outcome")
	assert.Equal(t, int32(1), calls.Load())
}

func TestLogging(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, _ = Logging(log)(ok("x")).ServeRPC(context.Background(), &Message{Topic: "a/b"})
	_, _ = Logging(log)(HandlerFunc(func(context.Context, *Message) (*Response, error) {
		return nil, Errorf(404, "nope")
	})).ServeRPC(context.Background(), &Message{Topic: "c/d"})
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], "level=INFO")
	assert.Contains(t, lines[0], "topic=a/b status=200")
	assert.NotContains(t, lines[0], "err=")
	assert.Contains(t, lines[1], "level=DEBUG")
	assert.Contains(t, lines[1], "topic=c/d status=404")
	assert.Contains(t, lines[1], "err=")
}

// TestMiddlewareOrder: the Broker's middleware runs outside the subscriber's,
// each in the order listed.
func TestMiddlewareOrder(t *testing.T) {
	var trace []string
	mark := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
				trace = append(trace, name)
				return next.ServeRPC(ctx, m)
			})
		}
	}
	b := &Broker{cfg: config{middleware: []Middleware{mark("broker1"), mark("broker2")}}, log: slog.New(slog.DiscardHandler)}
	s := &Subscription{b: b, opts: subscribeOptions{middleware: []Middleware{mark("sub1"), mark("sub2")}}}
	_, err := s.chain(ok("x")).ServeRPC(context.Background(), &Message{})
	require.NoError(t, err)
	assert.Equal(t, []string{"broker1", "broker2", "sub1", "sub2"}, trace)
}
