package mqttrpc_test

import (
	"context"
	"fmt"
	"log"
	"sort"
	"sync"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

func ExampleBroker_Service() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	svc, err := b.Service(ctx, mqttrpc.ServiceConfig{
		Name:        "thermo",
		Version:     "1.2.0",
		Description: "reads thermometers",
		Metadata:    map[string]string{"site": "7"},
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = svc.Endpoint(ctx, "read", "site/7/thermo/{sensor}", mqttrpc.Typed(func(ctx context.Context, _ []byte) (float64, error) {
		return 21.5, nil
	}), mqttrpc.EndpointMetadata(map[string]string{"unit": "celsius"}))
	if err != nil {
		log.Fatal(err)
	}

	celsius, _ := mqttrpc.Call[float64](ctx, b, "site/7/thermo/kitchen", nil)
	fmt.Println(celsius)
	for _, e := range svc.Stats().Endpoints {
		fmt.Println(e.Name, e.Pattern, e.Requests, e.Errors)
	}
	// Output:
	// 21.5
	// read site/7/thermo/{sensor} 1 0
}

func ExampleDiscover() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	// Two instances of one service, each on a connection of its own.
	for _, site := range []string{"7", "8"} {
		b, _ := mqttrpc.Connect(ctx, srv.URL())
		defer b.Close(ctx)
		svc, _ := b.Service(ctx, mqttrpc.ServiceConfig{Name: "thermo", Version: "1.2.0"})
		_, _ = svc.Endpoint(ctx, "read", "site/"+site+"/thermo/{sensor}", mqttrpc.Typed(func(context.Context, []byte) (float64, error) {
			return 21.5, nil
		}))
	}

	cli, _ := mqttrpc.Connect(ctx, srv.URL())
	defer cli.Close(ctx)
	var found []string
	for info, err := range mqttrpc.Discover[mqttrpc.ServiceInfo](ctx, cli, "thermo", "", mqttrpc.Timeout(time.Second), mqttrpc.MaxReplies(2)) {
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range info.Endpoints {
			found = append(found, fmt.Sprintf("%s %s %s: %s -> %s", info.Name, info.Version, e.Name, e.Pattern, e.ResponseSchema))
		}
	}
	sort.Strings(found)
	for _, f := range found {
		fmt.Println(f)
	}
	// Output:
	// thermo 1.2.0 read: site/7/thermo/{sensor} -> float64
	// thermo 1.2.0 read: site/8/thermo/{sensor} -> float64
}

func ExampleBroker_Gather() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	// Three devices answer on one topic.
	for _, id := range []string{"a", "b", "c"} {
		d, _ := mqttrpc.Connect(ctx, srv.URL())
		defer d.Close(ctx)
		_, _ = d.Subscriber(ctx, "site/7/online", mqttrpc.Typed(func(context.Context, []byte) (string, error) {
			return "device " + id, nil
		}))
	}

	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)
	var online []string
	// Until a second has passed or three have answered, whichever is first.
	for reply, err := range b.Gather(ctx, "site/7/online", nil, mqttrpc.Timeout(time.Second), mqttrpc.MaxReplies(3)) {
		if err != nil {
			log.Fatal(err)
		}
		online = append(online, string(reply.Body))
	}
	sort.Strings(online)
	fmt.Println(online)
	// Output: [device a device b device c]
}

// A counter by pattern and status, as a Prometheus CounterVec would keep it;
// panics, payload limits and timeouts included.
func ExampleWithServedHook() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	var mu sync.Mutex
	requests := map[string]int{} // in a real service: prometheus.NewCounterVec(..., []string{"pattern", "status"})
	b, _ := mqttrpc.Connect(ctx, srv.URL(), mqttrpc.WithServedHook(func(_ context.Context, s mqttrpc.Served) {
		mu.Lock()
		defer mu.Unlock()
		requests[fmt.Sprintf("%s %d", s.Pattern, s.Status)]++ // requests.WithLabelValues(s.Pattern, strconv.Itoa(s.Status)).Inc()
	}))
	defer b.Close(ctx)

	_, _ = b.Subscriber(ctx, "devices/{id}/reboot", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		if in == "now" {
			return "rebooting", nil
		}
		return "", mqttrpc.Errorf(400, "say now")
	}))
	_, _ = b.Request(ctx, "devices/1/reboot", "now")
	_, _ = b.Request(ctx, "devices/2/reboot", "now")
	_, _ = b.Request(ctx, "devices/3/reboot", "later")

	mu.Lock()
	defer mu.Unlock()
	fmt.Println(requests)
	// Output: map[devices/{id}/reboot 200:2 devices/{id}/reboot 400:1]
}

func ExampleService_Group() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	svc, _ := b.Service(ctx, mqttrpc.ServiceConfig{Name: "devices", Version: "2.0.0"})
	dev := svc.Group("site/{site}/devices/{id}", mqttrpc.EndpointMetadata(map[string]string{"auth": "operator"}))
	_, _ = dev.Endpoint(ctx, "reboot", "reboot", mqttrpc.Typed(func(ctx context.Context, _ []byte) (string, error) {
		m := mqttrpc.MessageFromContext(ctx)
		return "rebooting " + m.Param("id") + " at " + m.Param("site"), nil
	}))

	reply, _ := b.Request(ctx, "site/7/devices/42/reboot", nil)
	fmt.Println(string(reply.Body))
	for _, e := range svc.Info().Endpoints {
		fmt.Println(e.Name, e.Pattern, e.Metadata)
	}
	// Output:
	// rebooting 42 at 7
	// reboot site/{site}/devices/{id}/reboot map[auth:operator]
}
