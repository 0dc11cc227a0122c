package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestFailoverToNextServer gives a service and its caller two servers and
// kills the one they use: both move to the other, restore their
// subscriptions there, and requests succeed again within one round of the
// reconnect backoff.
func TestFailoverToNextServer(t *testing.T) {
	t.Parallel()
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			first, second := brokertest.Mosquitto(t), brokertest.Mosquitto(t)
			const backoffMin, backoffMax = 20 * time.Millisecond, 200 * time.Millisecond
			// Each Broker reports when it is connected again, subscriptions restored.
			open := func() (*mqttrpc.Broker, <-chan mqttrpc.StateChange) {
				states := make(chan mqttrpc.StateChange, 16)
				b, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), first.URL, mqttrpc.WithVersion(v),
					mqttrpc.WithServers(second.URL), mqttrpc.WithReconnectBackoff(backoffMin, backoffMax),
					mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { states <- s }))
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, b.Close(ctxTimeout(t, 5*time.Second))) })
				require.Equal(t, mqttrpc.StateChange{State: mqttrpc.StateConnected, Server: first.URL}, receive(t, states))
				return b, states
			}
			srv, srvStates := open()
			cli, cliStates := open()
			assert.Equal(t, first.URL, srv.Server(), "the first server is tried first")

			tg := target{broker: first, version: v}
			r := newRoute(t, tg, "failover")
			subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
			call := func(body string) error {
				reply, err := cli.Request(context.Background(), r.topic, body, r.call(mqttrpc.QoS(1), mqttrpc.Timeout(time.Second))...)
				if err == nil && string(reply.Body) != body {
					err = fmt.Errorf("request %s got %q", body, reply.Body)
				}
				return err
			}
			require.NoError(t, call("before"))

			killed := time.Now()
			first.Kill(t)
			// Each state change names its server: the lost one, then the next.
			for _, states := range []<-chan mqttrpc.StateChange{srvStates, cliStates} {
				require.Equal(t, mqttrpc.StateChange{State: mqttrpc.StateDisconnected, Server: first.URL}, receive(t, states))
				require.Equal(t, mqttrpc.StateChange{State: mqttrpc.StateConnected, Server: second.URL}, receive(t, states))
			}
			require.NoError(t, call("after"))
			recovery := time.Since(killed)

			t.Logf("MQTT %s: service and caller on the second server, and a request answered, %v after SIGKILL of the first (backoff %v to %v)",
				v, recovery.Round(time.Millisecond), backoffMin, backoffMax)
			// One attempt finds the dead server refusing and the next one
			// answering; at worst a full round of the backoff comes first.
			// The rest is subscribing again and the request itself.
			assert.Less(t, recovery, backoffMax+time.Second)
			assert.Equal(t, second.URL, srv.Server())
			assert.Equal(t, second.URL, cli.Server())
		})
	}
}

func TestServersAreChecked(t *testing.T) {
	t.Parallel()
	_, err := mqttrpc.Connect(context.Background(), "mqtt://127.0.0.1:1", mqttrpc.WithServers("::bad"))
	assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument)
	_, err = mqttrpc.Connect(context.Background(), "mqtt://127.0.0.1", mqttrpc.WithServers("tcp://127.0.0.1:1883"))
	assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument, "the same server twice")
	_, err = mqttrpc.Connect(context.Background(), "mqtt://127.0.0.1", mqttrpc.WithServers("http://127.0.0.1:8080"))
	assert.ErrorIs(t, err, mqttrpc.ErrInvalidArgument, "an unknown scheme")
}

// TestFirstServerDown: Connect moves past a server that refuses, at once.
func TestFirstServerDown(t *testing.T) {
	t.Parallel()
	mochi := brokertest.Mochi(t)
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			b, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), brokertest.UnusedURL(t), mqttrpc.WithVersion(v),
				mqttrpc.WithServers(mochi.URL))
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, b.Close(ctxTimeout(t, 5*time.Second))) })
			assert.Equal(t, mochi.URL, b.Server())
			assert.Less(t, time.Since(start), time.Second, "no backoff between servers of one attempt")
		})
	}
}

// TestRefusedReplyPrefixIsSubscribedAgain moves a caller to a server that
// refuses its TokenReply prefix, as a cluster node may while it recovers
// from the loss of another. The caller does not wait for replies that cannot
// come: its next request subscribes the prefix again, and fails at once
// while the server still refuses.
func TestRefusedReplyPrefixIsSubscribedAgain(t *testing.T) {
	t.Parallel()
	first := brokertest.Mosquitto(t)
	refusing := brokertest.MochiWith(t, embedded.WithoutWildcardSubscriptions())
	changes := make(chan mqttrpc.StateChange, 16)
	cli, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), first.URL, mqttrpc.WithVersion(mqttrpc.V311),
		mqttrpc.WithServers(refusing.URL), mqttrpc.WithReconnectBackoff(20*time.Millisecond, 200*time.Millisecond),
		mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { changes <- s }))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cli.Close(ctxTimeout(t, 5*time.Second))) })
	require.Equal(t, mqttrpc.StateChange{State: mqttrpc.StateConnected, Server: first.URL}, receive(t, changes))

	srv := connectURL(t, first.URL, mqttrpc.V311)
	subscribe(t, srv, "refused/request/{token}", mqttrpc.Typed(echo), mqttrpc.ReplyTopic("refused/response/{token}"))
	call := func() error {
		_, err := cli.Request(context.Background(), "refused/request", "hi",
			mqttrpc.TokenReply("refused/response"), mqttrpc.Timeout(2*time.Second))
		return err
	}
	require.NoError(t, call(), "subscribes the prefix refused/response/+")

	first.Kill(t)
	require.Equal(t, mqttrpc.StateDisconnected, receive(t, changes).State)
	require.Equal(t, mqttrpc.StateChange{State: mqttrpc.StateConnected, Server: refusing.URL}, receive(t, changes))
	start := time.Now()
	err = call()
	require.ErrorIs(t, err, mqttrpc.ErrRefused, "the prefix is subscribed again, and refused")
	assert.Less(t, time.Since(start), time.Second, "no wait for the request's timeout")
}

// TestRefusedHandlerIsSubscribedAgain: a handler filter that the broker
// refuses when the Broker reconnects is tried again with backoff, and the
// handler serves once the broker accepts it, with no new connection.
func TestRefusedHandlerIsSubscribedAgain(t *testing.T) {
	t.Parallel()
	var refuse atomic.Bool
	topic := uniqueTopic(t, "deaf")
	mochi := brokertest.MochiWith(t, embedded.WithSubscribeCheck(func(filter string) bool {
		return !refuse.Load() || !strings.HasPrefix(filter, topic)
	}))
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} { // one after the other: they share refuse
		t.Run("v"+v.String(), func(t *testing.T) {
			tg := target{broker: mochi, version: v}
			r := route{topic: topic + "/v" + v.String()}
			if v == mqttrpc.V311 {
				r.reply = r.topic + "/reply"
			}
			proxy := brokertest.NewProxy(t, mochi)
			changes := make(chan mqttrpc.StateChange, 16)
			srv := connectURL(t, proxy.URL, v, mqttrpc.WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond),
				mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { changes <- s }))
			require.Equal(t, mqttrpc.StateConnected, receive(t, changes).State)
			subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve()...)
			cli := connect(t, tg)
			call := func(timeout time.Duration) error {
				_, err := cli.Request(context.Background(), r.topic, "hi", r.call(mqttrpc.Timeout(timeout))...)
				return err
			}
			require.NoError(t, call(5*time.Second))

			refuse.Store(true)
			proxy.Cut()
			proxy.Restore()
			require.Equal(t, mqttrpc.StateDisconnected, receive(t, changes).State)
			require.Equal(t, mqttrpc.StateConnected, receive(t, changes).State)
			require.Error(t, call(200*time.Millisecond), "the handler's filter is refused")

			refuse.Store(false)
			require.Eventually(t, func() bool { return call(time.Second) == nil }, 10*time.Second, time.Millisecond,
				"served once the broker accepts the filter")
			assert.Equal(t, mqttrpc.StateConnected, srv.State())
			assert.Empty(t, changes, "on the same connection")
		})
	}
}

// TestUnsubscribeWhileResubscribing unsubscribes a handler whose filter a
// reconnect found refused just as the Broker subscribes it again: after
// reading its handler table, before its SUBSCRIBE goes out. The broker sees
// the UNSUBSCRIBE first; the Broker must then take the filter back, or the
// broker keeps sending it requests that no handler serves.
func TestUnsubscribeWhileResubscribing(t *testing.T) {
	t.Parallel()
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			var refuse atomic.Bool
			tg := target{broker: nil, version: v}
			r := newRoute(t, tg, "resubscribed")
			tg.broker = brokertest.MochiWith(t, embedded.WithSubscribeCheck(func(filter string) bool {
				return !refuse.Load() || filter != r.topic
			}))
			srv, sub, reconnect := servedThroughProxy(t, tg, r)
			raced := make(chan struct{})
			mqttrpc.OnResubscribe(t, srv, sync.OnceFunc(func() {
				refuse.Store(false)
				assert.NoError(t, sub.Unsubscribe(ctxTimeout(t, 5*time.Second)))
				close(raced)
			}))

			refuse.Store(true)
			reconnect()
			receive(t, raced)
			awaitUnserved(t, tg, srv, r)
		})
	}
}

// TestUnsubscribeWhileRestoring is TestUnsubscribeWhileResubscribing for
// the first SUBSCRIBE on a new connection, which restores every handler.
func TestUnsubscribeWhileRestoring(t *testing.T) {
	t.Parallel()
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			tg := target{broker: brokertest.Mosquitto(t), version: v}
			r := newRoute(t, tg, "restored")
			srv, sub, reconnect := servedThroughProxy(t, tg, r)
			raced := make(chan struct{})
			mqttrpc.OnRestore(t, srv, sync.OnceFunc(func() {
				assert.NoError(t, sub.Unsubscribe(ctxTimeout(t, 5*time.Second)))
				close(raced)
			}))

			reconnect()
			receive(t, raced)
			awaitUnserved(t, tg, srv, r)
		})
	}
}

// servedThroughProxy connects a Broker to tg through a proxy and serves r
// on it. reconnect cuts the proxy's connection and returns once the Broker
// is connected again, its subscriptions restored.
func servedThroughProxy(t *testing.T, tg target, r route) (srv *mqttrpc.Broker, sub *mqttrpc.Subscription, reconnect func()) {
	t.Helper()
	proxy := brokertest.NewProxy(t, tg.broker)
	changes := make(chan mqttrpc.StateChange, 16)
	srv = connectURL(t, proxy.URL, tg.version, mqttrpc.WithReconnectBackoff(10*time.Millisecond, 100*time.Millisecond),
		mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { changes <- s }))
	require.Equal(t, mqttrpc.StateConnected, receive(t, changes).State)
	sub = subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
	reconnect = func() {
		t.Helper()
		proxy.Cut()
		proxy.Restore()
		require.Equal(t, mqttrpc.StateDisconnected, receive(t, changes).State)
		require.Equal(t, mqttrpc.StateConnected, receive(t, changes).State)
	}
	return srv, sub, reconnect
}

// awaitUnserved waits until requests on r no longer reach srv, whose handler
// on r has been unsubscribed: the broker has no subscriber for them. On MQTT
// 5 a QoS 1 request then fails at once where the broker says so (mosquitto:
// ErrNoResponders), and times out where it does not (mochi), instead of
// being answered 404 by srv.
func awaitUnserved(t *testing.T, tg target, srv *mqttrpc.Broker, r route) {
	t.Helper()
	cli := connect(t, tg)
	want := mqttrpc.ErrTimeout
	if tg.version == mqttrpc.V5 && tg.broker.Name == "mosquitto" {
		want = mqttrpc.ErrNoResponders
	}
	unserved := func() bool {
		before := srv.Stats().Unroutable
		_, err := cli.Request(context.Background(), r.topic, "hi", r.call(mqttrpc.QoS(1), mqttrpc.Timeout(500*time.Millisecond))...)
		return errors.Is(err, want) && srv.Stats().Unroutable == before
	}
	require.Eventually(t, unserved, 10*time.Second, 10*time.Millisecond, "the broker keeps a subscription no handler serves")
}
