package mqttrpc_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStateHandlerLifecycle(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		var log stateLog
		b, err := mqttrpc.Connect(ctxTimeout(t, 5*time.Second), tg.broker.URL,
			mqttrpc.WithVersion(tg.version), mqttrpc.WithStateHandler(log.record))
		require.NoError(t, err)
		assert.Equal(t, mqttrpc.StateConnected, b.State())
		require.NoError(t, b.Close(ctxTimeout(t, 5*time.Second)))
		assert.Equal(t, mqttrpc.StateClosed, b.State())
		assert.Eventually(t, func() bool {
			return slices.Equal(log.get(), []mqttrpc.ConnState{mqttrpc.StateConnected, mqttrpc.StateClosed})
		}, time.Second, 5*time.Millisecond, "states: %v", log.get())
	})
}
