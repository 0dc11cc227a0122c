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
