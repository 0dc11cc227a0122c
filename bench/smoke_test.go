package bench

import (
	"fmt"
	"testing"
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
