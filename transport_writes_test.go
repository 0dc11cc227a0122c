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
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestWritesPerRoundTrip counts the write system calls a QoS 1 round trip
// costs both Brokers together. It takes four packets (request, its PUBACK,
// reply, its PUBACK): written one packet at a time, that is four writes.
// A lone caller may not gain, but must not lose, that is never more than
// one write per packet; 64 callers must share writes.
func TestWritesPerRoundTrip(t *testing.T) {
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		for _, callers := range []int{1, 64} {
			t.Run(fmt.Sprintf("v%s/callers=%d", v, callers), func(t *testing.T) {
				mq := brokertest.Mosquitto(t)
				tg := target{broker: mq, version: v}
				srv, cli := connect(t, tg), connect(t, tg)
				// The layout of the benchmarks: a request topic and a reply
				// topic per caller, one wildcard subscription answering all.
				base := uniqueTopic(t, "writes")
				subscribe(t, srv, base+"/req/+", mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
					return nil, srv.Publish(ctx, base+"/rep/"+m.Topic[len(base+"/req/"):], m.Body, mqttrpc.QoS(1))
				}), mqttrpc.QoS(1), mqttrpc.NoReply())
				writes := func() uint64 { return mqttrpc.ConnOf(cli).Writes() + mqttrpc.ConnOf(srv).Writes() }

				const perCaller = 200
				before := writes()
				var wg sync.WaitGroup
				for i := range callers {
					topic, replyTo := fmt.Sprintf("%s/req/%d", base, i), mqttrpc.ReplyTo(fmt.Sprintf("%s/rep/%d", base, i))
					wg.Go(func() {
						for n := range perCaller {
							reply, err := cli.Request(ctxTimeout(t, 10*time.Second), topic, fmt.Sprint(n), replyTo, mqttrpc.QoS(1))
							if assert.NoError(t, err) {
								assert.Equal(t, fmt.Sprint(n), string(reply.Body))
							}
						}
					})
				}
				wg.Wait()
				perRT := float64(writes()-before) / float64(callers*perCaller)
				t.Logf("MQTT %s, %d callers: %.2f writes per QoS 1 round trip", v, callers, perRT)
				require.LessOrEqual(t, perRT, 4.1, "one write per packet, but for a rare packet split when the socket was full")
				if callers > 1 {
					assert.Less(t, perRT, 3.0, "concurrent packets share writes")
				}
			})
		}
	}
}
