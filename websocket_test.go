package mqttrpc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestWebsocket: MQTT over WebSocket (ws://) carries requests and replies on
// both versions, as a caller and as a responder.
func TestWebsocket(t *testing.T) {
	t.Parallel()
	ws := brokertest.MochiWebsocket(t)
	require.True(t, strings.HasPrefix(ws.URL, "ws://"), ws.URL)
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			tg := target{broker: ws, version: v}
			srv, cli := connect(t, tg), connect(t, tg)
			r := newRoute(t, tg, "ws")
			subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
			for _, qos := range []byte{0, 1} {
				body := strings.Repeat("x", 100<<10) // more than one write
				reply, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, body, r.call(mqttrpc.QoS(qos))...)
				require.NoError(t, err)
				assert.Equal(t, body, string(reply.Body))
			}
		})
	}
}
