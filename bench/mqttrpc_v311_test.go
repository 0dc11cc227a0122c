package bench

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/mqttrpc/mqttrpc"
)

// setupMQTTRPCv311 is mqttrpc on MQTT 3.1.1, which has no Response Topic:
// each caller sends to <prefix>/req/<i> and waits on <prefix>/rep/<i> with
// ReplyTo, since requests sharing one reply topic are sent one at a time.
// The responder serves all callers with one wildcard subscription and
// derives the reply topic from the request topic, as a 3.1.1 service must;
// it replies by itself (NoReply and Publish) because ReplyTopic is one fixed
// topic per subscriber.
func setupMQTTRPCv311(tb testing.TB, url string, qos byte) func(int) callFunc {
	responder := connectMQTTRPC(tb, url, mqttrpc.V311)
	requester := connectMQTTRPC(tb, url, mqttrpc.V311)
	prefix := "bench/" + token()
	reqPrefix, repPrefix := prefix+"/req/", prefix+"/rep/"
	q := mqttrpc.QoS(qos)
	echo := func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		id := strings.TrimPrefix(m.Topic, reqPrefix)
		return nil, responder.Publish(ctx, repPrefix+id, m.Body, mqttrpc.QoS(m.QoS))
	}
	serve(tb, responder, reqPrefix+"+", mqttrpc.HandlerFunc(echo), q, mqttrpc.NoReply())
	return func(i int) callFunc {
		id := strconv.Itoa(i)
		reqTopic, replyTo := reqPrefix+id, mqttrpc.ReplyTo(repPrefix+id)
		return func(ctx context.Context, payload []byte) ([]byte, error) {
			m, err := requester.Request(ctx, reqTopic, payload, q, replyTo)
			if err != nil {
				return nil, err
			}
			return m.Body, nil
		}
	}
}
