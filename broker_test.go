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

// TestConcurrentCloseHonoursEachContext: a second Close returns by its own
// context while the first waits for a stuck handler.
func TestConcurrentCloseHonoursEachContext(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), tg.broker.URL)
		require.NoError(t, err)
		cli := connect(t, tg)
		topic := uniqueTopic(t, "stuck")
		started, release := make(chan struct{}), make(chan struct{})
		subscribe(t, srv, topic, mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			close(started)
			<-release // ignores its context
			return nil, nil
		}))
		go func() { _, _ = cli.Request(context.Background(), topic, nil, mqttrpc.Timeout(10*time.Second)) }()
		receive(t, started)

		first := make(chan error, 1)
		go func() { first <- srv.Close(ctxTimeout(t, time.Minute)) }()
		require.Eventually(t, func() bool { return mqttrpc.Closing(srv) }, 5*time.Second, time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err = srv.Close(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "returned by its own ctx, before the first Close could finish")
		close(release)
		require.NoError(t, receive(t, first))
	})
}
