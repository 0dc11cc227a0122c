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

// stateAt is a state change and when the handler saw it.
type stateAt struct {
	state mqttrpc.ConnState
	at    time.Time
}

// awaitState returns the time of the next change to want on states,
// failing the test on any other change or after 30 seconds.
func awaitState(t *testing.T, states <-chan stateAt, want mqttrpc.ConnState) time.Time {
	t.Helper()
	select {
	case s := <-states:
		require.Equal(t, want, s.state)
		return s.at
	case <-time.After(30 * time.Second):
		t.Fatalf("no change to %s within 30 s", want)
		return time.Time{}
	}
}

// TestReconnectFollowsBackoff kills mosquitto three times, for a short
// outage each time, on the default backoff (100 ms doubling up to 5 s). The
// waits between attempts double from the minimum, so the first attempt after
// the restart comes at most one outage plus the minimum later; the Broker
// must be connected again, subscriptions restored, within that (plus time
// to connect and resubscribe on a loaded machine). paho.mqtt.golang's own
// reconnecting starts at 1 s and stretches when losses repeat: it took
// 0.7 to 4.7 s after outages like these.
func TestReconnectFollowsBackoff(t *testing.T) {
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			testReconnectFollowsBackoff(t, v)
		})
	}
}

func testReconnectFollowsBackoff(t *testing.T, v mqttrpc.Version) {
	const (
		backoffMin = 100 * time.Millisecond // WithReconnectBackoff's default
		outage     = 300 * time.Millisecond
		slack      = time.Second // to connect and resubscribe on a loaded 2-core machine
	)
	mq := brokertest.Mosquitto(t)
	tg := target{broker: mq, version: v}
	states := make(chan stateAt, 64)
	cli := connect(t, tg, mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) { states <- stateAt{s.State, time.Now()} }))
	awaitState(t, states, mqttrpc.StateConnected)
	srv := connect(t, tg)
	r := newRoute(t, tg, "backoff")
	subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve()...)

	for kill := 1; kill <= 3; kill++ {
		mq.Kill(t)
		down := awaitState(t, states, mqttrpc.StateDisconnected)
		time.Sleep(outage) // the outage itself, not a wait for an event
		mq.Restart(t)
		restarted := time.Now()
		recovered := awaitState(t, states, mqttrpc.StateConnected).Sub(restarted)
		bound := restarted.Sub(down) + backoffMin + slack
		t.Logf("MQTT %s, kill %d: down %v, connected again %v after the restart (bound %v)", v, kill,
			restarted.Sub(down).Round(time.Millisecond), recovered.Round(time.Millisecond), bound.Round(time.Millisecond))
		assert.Less(t, recovered, bound, "kill %d: reconnected as the backoff allows", kill)

		// Both Brokers are back with their subscriptions: RPC works.
		require.Eventually(t, func() bool {
			reply, err := cli.Request(context.Background(), r.topic, "ping", r.call(mqttrpc.Timeout(500*time.Millisecond))...)
			return err == nil && string(reply.Body) == "ping"
		}, 10*time.Second, 10*time.Millisecond, "kill %d: requests succeed again", kill)
	}
}

// TestSessionExpiryKeepsRequests cuts a service's network connection (the
// broker keeps running) while a request is sent to it. With a kept session
// the broker queues the QoS 1 request and delivers it on reconnect, so the
// caller is answered; without one the request is lost.
func TestSessionExpiryKeepsRequests(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprint("session=", keep), func(t *testing.T) {
				proxy := brokertest.NewProxy(t, tg.broker)
				opts := []mqttrpc.Option{
					mqttrpc.WithVersion(tg.version),
					mqttrpc.WithClientID(fmt.Sprintf("svc-%d", topicSeq.Add(1))),
					mqttrpc.WithReconnectBackoff(20*time.Millisecond, 100*time.Millisecond),
				}
				if keep {
					opts = append(opts, mqttrpc.WithSessionExpiry(time.Minute))
				}
				srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), proxy.URL, opts...)
				require.NoError(t, err)
				t.Cleanup(func() { _ = srv.Close(context.Background()) })
				cli := connect(t, tg)
				r := newRoute(t, tg, "session")
				subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
				atBroker := sniff(t, tg, r.topic)

				proxy.Cut()
				require.Eventually(t, func() bool { return srv.State() == mqttrpc.StateDisconnected },
					5*time.Second, 5*time.Millisecond)
				result := make(chan error, 1)
				go func() {
					reply, err := cli.Request(context.Background(), r.topic, "queued", r.call(mqttrpc.QoS(1), mqttrpc.Timeout(2*time.Second))...)
					if err == nil && string(reply.Body) != "queued" {
						err = fmt.Errorf("reply %q", reply.Body)
					}
					result <- err
				}()
				receive(t, atBroker) // the request reached the broker while the service is away
				proxy.Restore()

				err = receive(t, result)
				if keep {
					require.NoError(t, err, "the broker kept the request for the service")
				} else {
					require.True(t, errorIsAny(err, mqttrpc.ErrTimeout, mqttrpc.ErrNoResponders), "got %v", err)
				}
			})
		}
	})
}

// TestReplyWhileDisconnectedIsDropped: a handler that finishes while its
// connection is down must not have its reply queued and sent after the
// reconnect, when its caller has given up. On MQTT 3.1.1 that late reply
// would answer the next request on the reply topic. The service keeps its
// session, so the next request waits for it at the broker meanwhile.
func TestReplyWhileDisconnectedIsDropped(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		proxy := brokertest.NewProxy(t, tg.broker)
		srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), proxy.URL, mqttrpc.WithVersion(tg.version),
			mqttrpc.WithClientID(fmt.Sprintf("late-%d", topicSeq.Add(1))), mqttrpc.WithSessionExpiry(time.Minute),
			mqttrpc.WithReconnectBackoff(20*time.Millisecond, 100*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close(context.Background()) })
		// The first request's reply is owed on MQTT 3.1.1 for the request
		// timeout: the second waits that long before it is sent.
		cli := connect(t, tg, mqttrpc.WithRequestTimeout(time.Second))
		r := newRoute(t, tg, "late")
		atBroker := sniff(t, tg, r.topic)
		started, release := make(chan struct{}, 1), make(chan struct{})
		subscribe(t, srv, r.topic, mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
			if in == "first" {
				started <- struct{}{}
				<-release
			}
			return in, nil
		}), r.serve(mqttrpc.QoS(1))...)

		_, err = cli.Request(ctxTimeout(t, 5*time.Second), r.topic, "first", r.call(mqttrpc.QoS(1), mqttrpc.Timeout(200*time.Millisecond))...)
		require.ErrorIs(t, err, mqttrpc.ErrTimeout)
		receive(t, started)
		receive(t, atBroker) // "first"
		proxy.Cut()
		require.Eventually(t, func() bool { return srv.State() == mqttrpc.StateDisconnected }, 5*time.Second, 5*time.Millisecond)
		close(release) // the handler answers while its connection is down
		settle(t, srv)

		second := make(chan *mqttrpc.Message, 1)
		go func() {
			reply, err := cli.Request(context.Background(), r.topic, "second", r.call(mqttrpc.QoS(1), mqttrpc.Timeout(5*time.Second))...)
			assert.NoError(t, err)
			second <- reply
		}()
		receive(t, atBroker) // "second" waits at the broker, in the service's session
		proxy.Restore()
		reply := receive(t, second)
		require.NotNil(t, reply)
		assert.Equal(t, "second", string(reply.Body), "the first request's late reply must not answer the second")
	})
}
