package main

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// TestMosquittoWebsocket checks the mosquitto.conf lines the README gives
// for a WebSocket listener: a page or dashboard calls through it a handler
// that serves over TCP.
func TestMosquittoWebsocket(t *testing.T) {
	t.Parallel()
	wsAddr := freeAddr(t)
	_, wsPort, _ := net.SplitHostPort(wsAddr)
	tcp := "mqtt://" + mosquittoWith(t, "listener "+wsPort+" 127.0.0.1\nprotocol websockets\n")
	awaitListening(t, wsAddr, nil)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	server, err := mqttrpc.Connect(ctx, tcp)
	require.NoError(t, err)
	defer closeBroker(server)
	tp := topic("mosquitto-ws")
	_, err = server.Subscriber(ctx, tp, mqttrpc.Typed(func(_ context.Context, in string) (string, error) { return "tcp:" + in, nil }))
	require.NoError(t, err)

	page, err := mqttrpc.Connect(ctx, "ws://"+wsAddr+"/mqtt")
	require.NoError(t, err)
	defer closeBroker(page)
	reply, err := page.Request(ctx, tp, "ws")
	require.NoError(t, err)
	assert.Equal(t, "tcp:ws", string(reply.Body))
}
