package mqttrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

func TestConnectRejectsBadOptions(t *testing.T) {
	_, err := mqttrpc.Connect(context.Background(), "mqtt://127.0.0.1:1",
		mqttrpc.WithRequestTimeout(0),
		mqttrpc.WithReconnectBackoff(time.Second, time.Millisecond),
		mqttrpc.WithVersion(3),
		mqttrpc.WithLogger(nil))
	require.ErrorIs(t, err, mqttrpc.ErrInvalidArgument)
	var oe *mqttrpc.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "connect", oe.Op)
	joined, ok := oe.Cause.(interface{ Unwrap() []error })
	require.True(t, ok, "every bad option is reported, not only the first")
	assert.Len(t, joined.Unwrap(), 4)

	_, err = mqttrpc.Connect(context.Background(), "mqtt://127.0.0.1:1", mqttrpc.WithInboxPrefix("a/+"))
	assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
}
