package embedded_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

func ExampleStart() {
	s, err := embedded.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Clients connect to s.URL(), which names a free loopback port.
	fmt.Println(strings.HasPrefix(s.URL(), "mqtt://127.0.0.1:"))
	// Output: true
}

func ExampleWithWebsocket() {
	s, err := embedded.Start(embedded.WithWebsocket("127.0.0.1:0"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	// MQTT over WebSocket, as browsers and some gateways speak it.
	b, err := mqttrpc.Connect(ctx, s.WebsocketURL())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	if _, err := b.Subscriber(ctx, "rpc/echo", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return in, nil
	})); err != nil {
		log.Fatal(err)
	}
	reply, err := b.Request(ctx, "rpc/echo", "over a WebSocket")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply.Body))
	// Output: over a WebSocket
}
