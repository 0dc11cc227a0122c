package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

// TestRoundTripSmoke makes a few round trips with every implementation on
// the embedded broker, so that plain `go test` shows the benchmarks' setups
// still work without running them.
func TestRoundTripSmoke(t *testing.T) {
	url := mochiURL(t)
	payload := make([]byte, 1024)
	for _, im := range mqttImpls {
		for _, qos := range qosLevels {
			t.Run(fmt.Sprintf("%s/qos=%d", im.name, qos), func(t *testing.T) {
				newCaller := im.setup(t, url, qos)
				for i := range 3 {
					timeout := callTimeout
					if im.lossy {
						// A lost reply is this client's known flaw (see mqttImpls),
						// not a failure of the harness.
						timeout = lossyTimeout(1)
					}
					if err := roundTrip(newCaller(i), payload, timeout); err != nil && !im.lossy {
						t.Fatal(err)
					}
				}
			})
		}
	}
	t.Run("nats", func(t *testing.T) {
		if err := roundTrip(setupNATS(t, natsURL(t))(0), payload, callTimeout); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDiscoverySmoke runs the mqttrpc responders as Service endpoints, as
// BENCH_DISCOVERY=1 does, and checks that discovery finds the MQTT 5 one
// (MQTT 3.1.1 has no Response Topic to answer discovery on).
func TestDiscoverySmoke(t *testing.T) {
	defer func(on bool) { discovery = on }(discovery)
	discovery = true
	url := mochiURL(t)
	for _, name := range []string{"mqttrpc-v5", "mqttrpc-v311"} {
		im := mqttImpls[slices.IndexFunc(mqttImpls, func(im impl) bool { return im.name == name })]
		if err := roundTrip(im.setup(t, url, 1)(0), []byte("ping"), callTimeout); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	b := connectMQTTRPC(t, url, mqttrpc.V5)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	found := 0
	for info, err := range mqttrpc.Discover[mqttrpc.ServiceInfo](ctx, b, "bench", "", mqttrpc.Timeout(time.Second)) {
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Endpoints) == 1 && info.Endpoints[0].Name == "echo" {
			found++
		}
	}
	if found == 0 {
		t.Fatal("discovery found no bench service with an echo endpoint")
	}
}
