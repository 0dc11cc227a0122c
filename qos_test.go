package mqttrpc_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mqttrpc/mqttrpc"
)

// TestQoS2RoundTrips sends many concurrent QoS 2 requests, answered at QoS 2,
// with and without a session kept: without one, the Broker's MQTT 5 client
// keeps no copies of its packets, yet every exchange of four packets must
// still complete with its own packet identifier, within the broker's Receive
// Maximum.
func TestQoS2RoundTrips(t *testing.T) {
	sessions := []struct {
		name string
		opts func(t *testing.T) []mqttrpc.Option
	}{
		{"clean", func(*testing.T) []mqttrpc.Option { return nil }},
		{"kept", func(t *testing.T) []mqttrpc.Option {
			return []mqttrpc.Option{
				mqttrpc.WithSessionExpiry(time.Minute),
				mqttrpc.WithClientID(fmt.Sprintf("qos2-%d", topicSeq.Add(1))),
			}
		}},
	}
	forEachTarget(t, func(t *testing.T, tg target) {
		for _, s := range sessions {
			t.Run(s.name, func(t *testing.T) {
				srv, cli := connect(t, tg, s.opts(t)...), connect(t, tg, s.opts(t)...)
				r := newRoute(t, tg, "qos2")
				subscribe(t, srv, r.topic, mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
					return "re:" + in, nil
				}), r.serve(mqttrpc.QoS(2))...)

				const n = 200
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for i := range n {
					wg.Go(func() {
						body := fmt.Sprintf("req-%d", i)
						reply, err := cli.Request(ctxTimeout(t, 20*time.Second), r.topic, body, r.call(mqttrpc.QoS(2))...)
						switch {
						case err != nil:
							errs <- err
						case string(reply.Body) != "re:"+body:
							errs <- fmt.Errorf("request %q got reply %q", body, reply.Body)
						case reply.QoS != 2:
							errs <- fmt.Errorf("reply to %q came at QoS %d", body, reply.QoS)
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				assert.Zero(t, mqttrpc.PendingRequests(cli))
			})
		}
	})
}
