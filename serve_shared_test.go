package mqttrpc_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// handledLog counts, per request body, the handler runs and the instances
// that ran them.
type handledLog struct {
	mu         sync.Mutex
	runs       map[string]int
	byInstance map[string]int
}

func newHandledLog() *handledLog {
	return &handledLog{runs: make(map[string]int), byInstance: make(map[string]int)}
}

func (l *handledLog) record(instance, body string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs[body]++
	l.byInstance[instance]++
}

// reset forgets what was recorded.
func (l *handledLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.runs)
	clear(l.byInstance)
}

// check asserts that each of n requests ran once, and returns the spread
// over instances.
func (l *handledLog) check(t *testing.T, n int, bodies func(i int) string) map[string]int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	assert.Len(t, l.runs, n, "requests handled")
	for i := range n {
		assert.Equal(t, 1, l.runs[bodies(i)], "runs of request %d", i)
	}
	return l.byInstance
}

// sharedEcho serves "devices/{id}/echo" in the shared group "svc" on each
// of instances, answering "<id>:<body>". On MQTT 3.1.1 it serves
// "devices/{id}/echo/{token}", replying on "replies/{id}/{token}" (see
// sharedCall).
func sharedEcho(t *testing.T, v mqttrpc.Version, instances []*mqttrpc.Broker, prefix string, log *handledLog, opts ...mqttrpc.SubscribeOption) {
	echoService(t, v, instances, prefix, log, append([]mqttrpc.SubscribeOption{mqttrpc.Shared("svc")}, opts...)...)
}

// echoService is sharedEcho without the shared group: every instance gets
// every request.
func echoService(t *testing.T, v mqttrpc.Version, instances []*mqttrpc.Broker, prefix string, log *handledLog, opts ...mqttrpc.SubscribeOption) {
	pattern := prefix + "/devices/{id}/echo"
	if v == mqttrpc.V311 {
		pattern += "/{token}"
		opts = append(opts, mqttrpc.ReplyTopic(prefix+"/replies/{id}/{token}"))
	}
	for i, b := range instances {
		name := fmt.Sprint("instance-", i+1)
		subscribe(t, b, pattern, mqttrpc.Typed(func(_ context.Context, m *mqttrpc.Message) (string, error) {
			log.record(name, string(m.Body))
			return m.Param("id") + ":" + string(m.Body), nil
		}), append([]mqttrpc.SubscribeOption{mqttrpc.QoS(1)}, opts...)...)
	}
}

// sharedCall sends body to sharedEcho's service for device id and checks the reply.
func sharedCall(t *testing.T, cli *mqttrpc.Broker, v mqttrpc.Version, prefix, id, body string) error {
	opts := []mqttrpc.RequestOption{mqttrpc.QoS(1)}
	if v == mqttrpc.V311 {
		opts = append(opts, mqttrpc.TokenReply(prefix+"/replies/"+id))
	}
	reply, err := cli.Request(ctxTimeout(t, 5*time.Second), prefix+"/devices/"+id+"/echo", body, opts...)
	if err == nil && string(reply.Body) != id+":"+body {
		err = fmt.Errorf("request %s for %s got %q", body, id, reply.Body)
	}
	return err
}

// TestSharedSubscriptionSplitsLoad runs three instances of a service in one
// shared group: each request is handled exactly once, by one of them, and
// answered correctly (on MQTT 3.1.1 correlated by TokenReply).
func TestSharedSubscriptionSplitsLoad(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		instances := []*mqttrpc.Broker{connect(t, tg), connect(t, tg), connect(t, tg)}
		cli := connect(t, tg)
		prefix := uniqueTopic(t, "shared")
		log := newHandledLog()
		sharedEcho(t, tg.version, instances, prefix, log)

		const n, callers = 300, 8
		body := func(i int) string { return fmt.Sprint("req-", i) }
		var wg sync.WaitGroup
		for c := range callers {
			wg.Go(func() {
				for i := c; i < n; i += callers {
					assert.NoError(t, sharedCall(t, cli, tg.version, prefix, fmt.Sprint(i%7), body(i)))
				}
			})
		}
		wg.Wait()
		spread := log.check(t, n, body)
		t.Logf("%s: %d requests over 3 instances in one shared group: %v", tg, n, spread)
		assert.Len(t, spread, 3, "every instance took a share")
	})
}

func TestSharedSubscriptionNotOffered(t *testing.T) {
	t.Parallel()
	t.Run("shared", func(t *testing.T) {
		t.Parallel()
		tg := target{broker: brokertest.MochiWith(t, embedded.WithoutSharedSubscriptions()), version: mqttrpc.V5}
		b := connect(t, tg)
		_, err := b.Subscriber(ctxTimeout(t, 5*time.Second), "svc/echo", mqttrpc.Typed(echo), mqttrpc.Shared("svc"))
		require.ErrorIs(t, err, mqttrpc.ErrFeatureNotSupported, "the CONNACK says Shared Subscription Available 0")

		// Plain subscriptions still work beside it.
		subscribe(t, b, "svc/plain", mqttrpc.Typed(echo))
		reply, err := b.Request(ctxTimeout(t, 5*time.Second), "svc/plain", "hi")
		require.NoError(t, err)
		assert.Equal(t, "hi", string(reply.Body))
	})
	t.Run("wildcards", func(t *testing.T) {
		t.Parallel()
		mochi := brokertest.MochiWith(t, embedded.WithoutWildcardSubscriptions())
		// The reply inbox is a wildcard subscription: MQTT 5 requests cannot work.
		_, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), mochi.URL)
		require.ErrorIs(t, err, mqttrpc.ErrFeatureNotSupported, "the CONNACK says Wildcard Subscription Available 0")
	})
}

func TestSharedOptionIsChecked(t *testing.T) {
	t.Parallel()
	b := connect(t, target{broker: brokertest.Mochi(t), version: mqttrpc.V5})
	for _, tc := range []struct{ pattern, group string }{
		{"a/b", ""},
		{"a/b", "x/y"},
		{"a/b", "+"},
		{"$share/g/a/b", "g"},
	} {
		_, err := b.Subscriber(ctxTimeout(t, 5*time.Second), tc.pattern, mqttrpc.Typed(echo), mqttrpc.Shared(tc.group))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic, "%q in group %q", tc.pattern, tc.group)
	}
	s := subscribe(t, b, "devices/{id}/reboot", mqttrpc.Typed(echo), mqttrpc.Shared("g"))
	assert.Equal(t, "$share/g/devices/+/reboot", s.Filter())
	assert.Equal(t, "devices/{id}/reboot", s.Pattern())
}
