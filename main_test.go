package mqttrpc_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// Broker, handler and embedded server must be gone once closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// target is one MQTT broker and protocol version the shared suite runs on.
type target struct {
	broker  *brokertest.Broker
	version mqttrpc.Version
}

func (tg target) String() string { return tg.broker.Name + "/v" + tg.version.String() }

// forEachTarget runs fn against the embedded broker and, where installed,
// mosquitto, each on MQTT 5 and MQTT 3.1.1.
func forEachTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Helper()
	for _, b := range brokertest.All(t) {
		for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
			tg := target{broker: b, version: v}
			t.Run(tg.String(), func(t *testing.T) { fn(t, tg) })
		}
	}
}

// forEachV5 is forEachTarget for the cases that need MQTT 5 properties.
func forEachV5(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Helper()
	for _, b := range brokertest.All(t) {
		tg := target{broker: b, version: mqttrpc.V5}
		t.Run(tg.String(), func(t *testing.T) { fn(t, tg) })
	}
}

// connect opens a Broker on tg, closed when the test ends.
func connect(t testing.TB, tg target, opts ...mqttrpc.Option) *mqttrpc.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]mqttrpc.Option{mqttrpc.WithVersion(tg.version)}, opts...)
	b, err := mqttrpc.Connect(ctx, tg.broker.URL, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
	return b
}

var topicSeq atomic.Int64

// uniqueTopic returns a topic no other test uses, so tests sharing a
// mosquitto process cannot see each other's messages.
func uniqueTopic(t testing.TB, name string) string {
	return fmt.Sprintf("test/%d/%s", topicSeq.Add(1), name)
}

// route is the application code for one RPC, the same on both protocol
// versions but for the reply topic that MQTT 3.1.1 needs on both sides.
type route struct {
	topic string
	reply string // set on MQTT 3.1.1 only
	token bool   // correlate by topic tokens (TokenReply), with reply as the prefix
}

// tokenRoute is newRoute in TokenReply mode, on both versions.
func tokenRoute(t testing.TB, name string) route {
	r := route{topic: uniqueTopic(t, name), token: true}
	r.reply = r.topic + "/response"
	r.topic += "/request"
	return r
}

// pattern is what the service subscribes to.
func (r route) pattern() string {
	if r.token {
		return r.topic + "/{token}"
	}
	return r.topic
}

func newRoute(t testing.TB, tg target, name string) route {
	r := route{topic: uniqueTopic(t, name)}
	if tg.version == mqttrpc.V311 {
		r.reply = r.topic + "/reply"
	}
	return r
}

func (r route) serve(opts ...mqttrpc.SubscribeOption) []mqttrpc.SubscribeOption {
	if r.token {
		return append(opts, mqttrpc.ReplyTopic(r.reply+"/{token}"))
	}
	if r.reply != "" {
		opts = append(opts, mqttrpc.ReplyTopic(r.reply))
	}
	return opts
}

func (r route) call(opts ...mqttrpc.RequestOption) []mqttrpc.RequestOption {
	if r.token {
		return append(opts, mqttrpc.TokenReply(r.reply))
	}
	if r.reply != "" {
		opts = append(opts, mqttrpc.ReplyTo(r.reply))
	}
	return opts
}

// subscribe registers h on filter and fails the test if it cannot.
func subscribe(t testing.TB, b *mqttrpc.Broker, filter string, h mqttrpc.Handler, opts ...mqttrpc.SubscribeOption) *mqttrpc.Subscription {
	t.Helper()
	s, err := b.Subscriber(ctxTimeout(t, 10*time.Second), filter, h, opts...)
	require.NoError(t, err)
	return s
}

func echo(_ context.Context, in string) (string, error) { return in, nil }

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// receive returns the next value from ch, failing the test instead of
// hanging if none comes within 10 seconds.
func receive[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing received on %T within 10s", ch)
		panic("unreachable")
	}
}

// gauge counts the calls running at once and remembers the most there were.
type gauge struct{ now, peak atomic.Int32 }

// enter counts a call in; the function it returns counts it out.
func (g *gauge) enter() (leave func()) {
	n := g.now.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	return func() { g.now.Add(-1) }
}
