package mqttrpc_test

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/mqttrpc/mqttrpc"
)

// Three instances of one service split the requests between them.
func ExampleShared() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	var mu sync.Mutex
	served := map[string]int{}
	for _, name := range []string{"a", "b", "c"} {
		instance, err := mqttrpc.Connect(ctx, srv.URL())
		if err != nil {
			log.Fatal(err)
		}
		defer instance.Close(ctx)
		_, err = instance.Subscriber(ctx, "devices/{id}/reboot", mqttrpc.Typed(func(_ context.Context, m *mqttrpc.Message) (string, error) {
			mu.Lock()
			served[name]++
			mu.Unlock()
			return "rebooting " + m.Param("id"), nil
		}), mqttrpc.Shared("reboot-service"))
		if err != nil {
			log.Fatal(err)
		}
	}

	caller, err := mqttrpc.Connect(ctx, srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer caller.Close(ctx)
	for i := range 30 {
		reply, err := caller.Request(ctx, fmt.Sprintf("devices/%d/reboot", i), nil)
		if err != nil {
			log.Fatal(err)
		}
		if i == 0 {
			fmt.Println(string(reply.Body))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	sum := 0
	for _, n := range served {
		sum += n
	}
	fmt.Println("requests served:", sum, "instances serving:", len(served) > 1)
	// Output:
	// rebooting 0
	// requests served: 30 instances serving: true
}

// On MQTT 3.1.1, which has no Response Topic or Correlation Data, a token in
// the topics ties each reply to its request, and requests run concurrently.
func ExampleTokenReply() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, err := mqttrpc.Connect(ctx, srv.URL(), mqttrpc.WithVersion(mqttrpc.V311))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	_, err = b.Subscriber(ctx, "svc/echo/request/{token}", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return "echo: " + in, nil
	}), mqttrpc.ReplyTopic("svc/echo/response/{token}"))
	if err != nil {
		log.Fatal(err)
	}

	// Published to svc/echo/request/<token>; the reply comes on
	// svc/echo/response/<token>, through one svc/echo/response/+ subscription.
	reply, err := b.Request(ctx, "svc/echo/request", "hello", mqttrpc.TokenReply("svc/echo/response"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply.Body))
	// Output: echo: hello
}

// A Broker given every node of a cluster connects to the first that
// answers, and moves to the next when its node dies; Server says which one
// it is on. Here the first node is down.
func ExampleWithServers() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, err := mqttrpc.Connect(ctx, "mqtt://127.0.0.1:1", mqttrpc.WithServers(srv.URL()))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	fmt.Println(b.Server() == srv.URL())
	// Output: true
}
