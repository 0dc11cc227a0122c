package mqttrpc_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// counter is a handler that counts its calls and answers with its name.
type counter struct {
	name  string
	calls atomic.Int32

	mu   sync.Mutex
	seen []string // body and retain flag of each call, for failure messages
}

func (c *counter) ServeRPC(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.seen = append(c.seen, fmt.Sprintf("%q retain=%t", m.Body, m.Retain))
	c.mu.Unlock()
	return &mqttrpc.Response{Body: c.name}, nil
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.seen)
}

// settle waits until b runs no handler: every message dispatched so far has
// been served, so call counts are final.
func settle(t *testing.T, b *mqttrpc.Broker) {
	t.Helper()
	require.Eventually(t, func() bool { return mqttrpc.Busy(b) == 0 }, 10*time.Second, time.Millisecond)
}

// retain publishes body to topic as a retained message and returns once the
// broker has sent it to the subscribers it had. mochi acknowledges a publish
// before it sends it on, so a client that subscribes right after could still
// get it as a live message; it handles one client's packets in order, so once
// a second publish is acknowledged, the first has gone out.
func retain(t *testing.T, b *mqttrpc.Broker, topic, body string) {
	t.Helper()
	ctx := ctxTimeout(t, 5*time.Second)
	require.NoError(t, b.Publish(ctx, topic, body, mqttrpc.QoS(1), mqttrpc.Retain()))
	t.Cleanup(func() { _ = b.Publish(context.Background(), topic, nil, mqttrpc.Retain(), mqttrpc.QoS(1)) })
	require.NoError(t, b.Publish(ctx, uniqueTopic(t, "barrier"), nil, mqttrpc.QoS(1)))
}
