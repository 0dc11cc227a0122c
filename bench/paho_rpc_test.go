package bench

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/autopaho/extensions/rpc"
	"github.com/eclipse/paho.golang/paho"
)

// setupPahoRPC is paho.golang's own autopaho/extensions/rpc Handler on the
// requesting side, wired as its example does (a StandardRouter fed from
// OnPublishReceived). The extension has no responding side; the responder is
// the hand-written paho one.
func setupPahoRPC(tb testing.TB, rawURL string, qos byte) func(int) callFunc {
	prefix := "bench/" + token()
	topic := prefix + "/echo"
	startAutopahoResponder(tb, rawURL, topic, qos)
	router := paho.NewStandardRouter()
	cm := connectAutopaho(tb, rawURL, nil, func(pr paho.PublishReceived) (bool, error) {
		router.Route(pr.Packet.Packet())
		return false, nil
	})
	clientID := "rpc-" + token()
	h, err := rpc.NewHandler(context.Background(), rpc.HandlerOpts{
		Conn:             cm,
		Router:           router,
		ResponseTopicFmt: prefix + "/%s/responses",
		ClientID:         clientID,
	})
	if err != nil {
		tb.Fatal(err)
	}
	call := func(ctx context.Context, payload []byte) ([]byte, error) {
		resp, err := h.Request(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload})
		if err != nil {
			return nil, err
		}
		return resp.Payload, nil
	}
	return func(int) callFunc { return call }
}
