package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// TestBroker runs the broker command and serves and calls through it.
func TestBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stderr := newOutput()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"broker", "--listen", "127.0.0.1:0", "-v"}, strings.NewReader(""), newOutput(), stderr)
	}()
	out := stderr.waitFor(t, "mqttrpc: broker listening on ")
	url := regexp.MustCompile(`listening on (mqtt://\S+)`).FindStringSubmatch(out)[1]

	t.Run("round trip", func(t *testing.T) {
		tp := topic("via-broker")
		serve(t, tp, "--echo", "-s", url)
		r := cli(t, "", "call", tp, "hi", "-s", url)
		assert.Equal(t, result{exitOK, "hi\n", ""}, r)
	})
	stderr.waitFor(t, `msg="client disconnected"`) // -v logs the broker's debug lines

	cancel()
	require.Equal(t, exitOK, await(t, exited, "the broker's exit"), stderr.String())
}

// TestBrokerWebsocket runs the broker with --ws and calls through its
// WebSocket listener with the library, as a web page would through MQTT.js.
func TestBrokerWebsocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := newOutput()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"broker", "--listen", "127.0.0.1:0", "--ws", "127.0.0.1:0"}, strings.NewReader(""), newOutput(), stderr)
	}()
	out := stderr.waitFor(t, "/mqtt\n")
	m := regexp.MustCompile(`listening on (mqtt://\S+) and (ws://\S+/mqtt)\n`).FindStringSubmatch(out)
	require.NotNil(t, m, out)

	b, err := mqttrpc.Connect(ctx, m[2])
	require.NoError(t, err)
	tp := topic("via-ws")
	_, err = b.Subscriber(ctx, tp, mqttrpc.Typed(func(_ context.Context, in string) (string, error) { return "ws:" + in, nil }))
	require.NoError(t, err)
	reply, err := b.Request(ctx, tp, "hi")
	require.NoError(t, err)
	assert.Equal(t, "ws:hi", string(reply.Body))

	// The TCP listener serves the same broker beside it.
	r := cli(t, "", "call", tp, "tcp", "-s", m[1])
	assert.Equal(t, result{exitOK, "ws:tcp\n", ""}, r)
	require.NoError(t, b.Close(ctx))
	cancel()
	require.Equal(t, exitOK, await(t, exited, "the broker's exit"), stderr.String())
}
