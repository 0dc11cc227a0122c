package mqttrpc_test

import (
	"context"
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
