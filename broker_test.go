package mqttrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mqttrpc/mqttrpc"
)

func TestConnectRejectsBadOptions(t *testing.T) {
	_, err := mqttrpc.Connect(context.Background(), "mqtt://127.0.0.1:1",
		mqttrpc.WithRequestTimeout(0),
		mqttrpc.WithReconnectBackoff(time.Second, time.Millisecond),
		mqttrpc.WithVersion(3),
		mqttrpc.WithLogger(nil))
	assert.ErrorContains(t, err, "request timeout 0s is not positive")
	assert.ErrorContains(t, err, "maximum 1ms is below its minimum 1s")
	assert.ErrorContains(t, err, "unknown MQTT version 3")
	assert.ErrorContains(t, err, "nil logger")

	_, err = mqttrpc.Connect(context.Background(), "mqtt://127.0.0.1:1", mqttrpc.WithInboxPrefix("a/+"))
	assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
}
