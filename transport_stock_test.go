package mqttrpc_test

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
	"github.com/mqttrpc/mqttrpc/internal/bufconn"
)

// stockCalls is how many sequential calls give a median on a stock broker.
const stockCalls = 50

// stockLimit bounds that median. Without quick acknowledgements a QoS 1
// call on stock mosquitto takes about 44 ms on Linux: its second packet
// to a client waits, under Nagle's algorithm, for the client's delayed
// acknowledgement of the first. With them it takes well under 1 ms on
// loopback, so the bound leaves room for a slow machine and the race
// detector while staying far from 44.
const stockLimit = 5 * time.Millisecond

// TestStockMosquittoRoundTrip: on mosquitto left at its defaults (no
// set_tcp_nodelay), a lone caller's QoS 1 round trip does not wait for
// delayed acknowledgements, on MQTT 5 and on 3.1.1 with TokenReply, over
// TCP and TLS. QoS 0 is timed too, for the log.
func TestStockMosquittoRoundTrip(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	tlsPort := brokertest.FreePort(t)
	b := brokertest.MosquittoStock(t, mosquittoKeepUser+"listener "+strconv.Itoa(tlsPort)+" 127.0.0.1\n"+
		"cafile "+pki.caFile+"\ncertfile "+pki.certFile+"\nkeyfile "+pki.keyFile+"\n")
	if !bufconn.QuickAck {
		t.Skip("no TCP_QUICKACK on this platform: a stock broker's calls wait for delayed acknowledgements")
	}
	tlsOpt := mqttrpc.WithTLSConfig(&tls.Config{RootCAs: pki.pool})
	urls := []struct {
		name string
		url  string
		opts []mqttrpc.Option
	}{
		{"tcp", b.URL, nil},
		{"tls", "mqtts://127.0.0.1:" + strconv.Itoa(tlsPort), []mqttrpc.Option{tlsOpt}},
	}
	for _, u := range urls {
		for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
			t.Run(u.name+"/v"+v.String(), func(t *testing.T) {
				tg := target{broker: &brokertest.Broker{Name: b.Name, URL: u.url}, version: v}
				srv, cli := connect(t, tg, u.opts...), connect(t, tg, u.opts...)
				r := tokenRoute(t, "stock")
				subscribe(t, srv, r.pattern(), mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
				for _, qos := range []byte{0, 1} {
					median, mean := timeCalls(t, cli, r, qos)
					t.Logf("QoS %d: median %v, mean %v of %d calls", qos, median, mean, stockCalls)
					if qos == 1 {
						assert.Less(t, median, stockLimit, "QoS 1 calls wait for delayed acknowledgements")
					}
				}
			})
		}
	}
}

// timeCalls makes stockCalls sequential calls on r at qos, after one to warm
// up, and returns their median and mean.
func timeCalls(t *testing.T, cli *mqttrpc.Broker, r route, qos byte) (median, mean time.Duration) {
	t.Helper()
	took := make([]time.Duration, 0, stockCalls)
	for i := range stockCalls + 1 {
		body := fmt.Sprint("call-", i)
		start := time.Now()
		reply, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, body, r.call(mqttrpc.QoS(qos))...)
		elapsed := time.Since(start)
		require.NoError(t, err)
		require.Equal(t, body, string(reply.Body))
		if i > 0 {
			took = append(took, elapsed)
		}
	}
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	slices.Sort(took)
	return took[len(took)/2], sum / time.Duration(len(took))
}
