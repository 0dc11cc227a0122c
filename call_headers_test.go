package mqttrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// TestAddHeaders: AddHeaders merges over Headers in either order, without
// changing the caller's maps; a handler reads its pattern from the message.
func TestAddHeaders(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		b := connect(t, tg)
		base := uniqueTopic(t, "headers")
		got := make(chan *mqttrpc.Message, 2)
		subscribe(t, b, base+"/{id}", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			got <- m
			return nil, nil
		}))
		ctx := ctxTimeout(t, 10*time.Second)
		user := map[string]string{"a": "user", "b": "user"}
		added := map[string]string{"b": "added", "traceparent": "x"}
		want := map[string]string{"a": "user", "b": "added", "traceparent": "x"}
		for _, opts := range [][]mqttrpc.RequestOption{
			{mqttrpc.Headers(user), mqttrpc.AddHeaders(added)},
			{mqttrpc.AddHeaders(added), mqttrpc.Headers(user)},
		} {
			_, err := b.Request(ctx, base+"/1", nil, opts...)
			require.NoError(t, err)
			m := receive(t, got)
			assert.Equal(t, want, m.Headers)
			assert.Equal(t, base+"/{id}", m.Pattern())
		}
		assert.Equal(t, map[string]string{"a": "user", "b": "user"}, user, "unchanged")
		assert.Equal(t, map[string]string{"b": "added", "traceparent": "x"}, added, "unchanged")
		assert.Empty(t, (&mqttrpc.Message{}).Pattern())
	})
}
