package mqttrpc_test

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

func TestIsRetriable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{mqttrpc.ErrTimeout, true},
		{fmt.Errorf("request %q: %w", "a/b", mqttrpc.ErrTimeout), true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("%w: %w", mqttrpc.ErrDisconnected, syscall.EPIPE), true},
		{fmt.Errorf("%w: %w", mqttrpc.ErrTimeout, mqttrpc.ErrDisconnected), true},
		{mqttrpc.ErrNoResponders, true},
		{mqttrpc.Errorf(mqttrpc.StatusServiceUnavailable, "busy"), true},
		{mqttrpc.Errorf(mqttrpc.StatusRequestTimeout, "slow"), true},
		{mqttrpc.Errorf(mqttrpc.StatusInternalError, "bug"), false},
		{mqttrpc.Errorf(mqttrpc.StatusBadRequest, "bad"), false},
		{mqttrpc.ErrRefused, false},
		{mqttrpc.ErrClosed, false},
		{mqttrpc.ErrInvalidTopic, false},
		{mqttrpc.ErrFeatureNotSupported, false},
		{context.Canceled, false},
		{io.EOF, false}, // never returned unnamed; if it were, nobody could say
	} {
		assert.Equal(t, tc.want, mqttrpc.IsRetriable(tc.err), "%v", tc.err)
	}
}

// calls makes one Request, one Publish and one Subscriber call and returns
// their errors by name. Request and Publish go at QoS 1, so that they wait
// for the broker's acknowledgement.
func calls(t *testing.T, b *mqttrpc.Broker, tg target, topic string, deadline time.Duration) map[string]error {
	t.Helper()
	r := route{topic: topic}
	if tg.version == mqttrpc.V311 {
		r.reply = topic + "/reply"
	}
	errs := make(map[string]error)
	_, errs["Request"] = b.Request(ctxTimeout(t, deadline), topic, "x", r.call(mqttrpc.QoS(1))...)
	errs["Publish"] = b.Publish(ctxTimeout(t, deadline), topic, "x", mqttrpc.QoS(1))
	_, errs["Subscriber"] = b.Subscriber(ctxTimeout(t, deadline), topic+"/sub", mqttrpc.Typed(echo))
	return errs
}

// TestCallErrors drives the failures a caller can meet in Request, Publish
// and Subscriber and checks that each is one of the documented errors, and
// whether it is retriable.
func TestCallErrors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		// A short connect timeout bounds Subscriber, which waits that long.
		proxied := func(t *testing.T, opts ...mqttrpc.Option) (*mqttrpc.Broker, *brokertest.Proxy) {
			proxy := brokertest.NewProxy(t, tg.broker)
			b, err := mqttrpc.Connect(ctxTimeout(t, 10*time.Second), proxy.URL, append([]mqttrpc.Option{mqttrpc.WithVersion(tg.version),
				mqttrpc.WithConnectTimeout(time.Second), mqttrpc.WithReconnectBackoff(10*time.Millisecond, 50*time.Millisecond)}, opts...)...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close(ctxTimeout(t, 5*time.Second)) })
			return b, proxy
		}

		t.Run("stalled", func(t *testing.T) {
			b, proxy := proxied(t)
			proxy.Stall()
			for call, err := range calls(t, b, tg, uniqueTopic(t, "stalled"), 500*time.Millisecond) {
				require.ErrorIs(t, err, mqttrpc.ErrTimeout, call)
				assert.ErrorIs(t, err, context.DeadlineExceeded, call)
				assert.True(t, mqttrpc.IsRetriable(err), "%s: %v", call, err)
			}
			proxy.Resume()
			assert.NoError(t, b.Publish(ctxTimeout(t, 5*time.Second), uniqueTopic(t, "after"), "x", mqttrpc.QoS(1)),
				"the link flows again")
		})

		t.Run("cut", func(t *testing.T) {
			b, proxy := proxied(t)
			proxy.Cut() // and not restored: the Broker stays disconnected
			require.Eventually(t, func() bool { return b.State() == mqttrpc.StateDisconnected }, 5*time.Second, time.Millisecond)
			for call, err := range calls(t, b, tg, uniqueTopic(t, "cut"), 500*time.Millisecond) {
				require.ErrorIs(t, err, mqttrpc.ErrTimeout, "%s waited for the connection until its deadline", call)
				assert.ErrorIs(t, err, mqttrpc.ErrDisconnected, call)
				assert.True(t, mqttrpc.IsRetriable(err), "%s: %v", call, err)
			}
		})

		t.Run("dropped mid-publish", func(t *testing.T) {
			states := make(chan stateAt, 16)
			b, proxy := proxied(t, mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { states <- stateAt{s.State, time.Now()} }))
			awaitState(t, states, mqttrpc.StateConnected)
			topic := uniqueTopic(t, "dropped")
			// Subscribed to the reply topic first, so that the Request below
			// only publishes. A Gather leaves the topic owing no reply, which
			// the Request would wait for first on MQTT 3.1.1.
			for _, err := range b.Gather(ctxTimeout(t, 5*time.Second), topic, "x", mqttrpc.ReplyTo(topic+"/reply"), mqttrpc.Timeout(50*time.Millisecond)) {
				require.NoError(t, err, "nobody answers")
			}
			for _, call := range []string{"Request", "Publish"} {
				proxy.Stall() // the packet leaves, its acknowledgement never comes
				c := mqttrpc.ConnOf(b)
				require.NotNil(t, c)
				before := c.Writes()
				result := make(chan error, 1)
				go func() {
					if call == "Request" {
						_, err := b.Request(context.Background(), topic, "x", mqttrpc.QoS(1), mqttrpc.ReplyTo(topic+"/reply"), mqttrpc.Timeout(30*time.Second))
						result <- err
						return
					}
					result <- b.Publish(ctxTimeout(t, 30*time.Second), topic, "x", mqttrpc.QoS(1))
				}()
				require.Eventually(t, func() bool { return c.Writes() > before }, 5*time.Second, time.Millisecond, "the PUBLISH is written")
				proxy.Cut()
				err := receive(t, result)
				require.ErrorIs(t, err, mqttrpc.ErrDisconnected, call)
				assert.NotErrorIs(t, err, mqttrpc.ErrTimeout, "%s ended with the connection, not its deadline", call)
				assert.True(t, mqttrpc.IsRetriable(err), "%s: %v", call, err)
				t.Logf("%s: %v", call, err)
				awaitState(t, states, mqttrpc.StateDisconnected)
				proxy.Restore()
				awaitState(t, states, mqttrpc.StateConnected) // on a new connection
			}
		})

		t.Run("closed", func(t *testing.T) {
			b, _ := proxied(t)
			require.NoError(t, b.Close(ctxTimeout(t, 5*time.Second)))
			for call, err := range calls(t, b, tg, uniqueTopic(t, "closed"), time.Second) {
				require.ErrorIs(t, err, mqttrpc.ErrClosed, call)
				assert.False(t, mqttrpc.IsRetriable(err), "%s: %v", call, err)
			}
		})
	})
}

// TestRefusedCallErrors: what the broker refuses is ErrRefused, and not
// retriable. mosquitto's dynamic security plugin refuses Eve's subscription
// on both versions and, on MQTT 5, her QoS 1 publish (PUBACK 0x87); on
// MQTT 3.1.1 the broker acknowledges a forbidden publish and drops it.
func TestRefusedCallErrors(t *testing.T) {
	plugin := dynsecPlugin(t)
	dir := t.TempDir()
	b := brokertest.MosquittoWith(t, mosquittoKeepUser+
		"allow_anonymous false\n"+
		"plugin "+plugin+"\n"+
		"plugin_opt_config_file "+writeTestFile(t, dir, "dynamic-security.json", dynsecConfig(t))+"\n")
	for _, v := range secVersions {
		t.Run("v"+v.String(), func(t *testing.T) {
			eve := connectURL(t, b.URL, v, aclUser("eve")...)
			_, err := eve.Subscriber(ctxTimeout(t, 5*time.Second), "#", newTopicRecorder(), mqttrpc.NoReply())
			require.ErrorIs(t, err, mqttrpc.ErrRefused)
			assert.False(t, mqttrpc.IsRetriable(err))
			if v == mqttrpc.V311 {
				return
			}
			err = eve.Publish(ctxTimeout(t, 5*time.Second), "forbidden/x", "x", mqttrpc.QoS(1))
			require.ErrorIs(t, err, mqttrpc.ErrRefused)
			assert.False(t, mqttrpc.IsRetriable(err))
			_, err = eve.Request(ctxTimeout(t, 5*time.Second), "forbidden/x", "x", mqttrpc.QoS(1))
			require.ErrorIs(t, err, mqttrpc.ErrRefused)
			assert.False(t, mqttrpc.IsRetriable(err))
		})
	}
}
