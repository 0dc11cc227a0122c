package mqttrpc_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mqttrpc/mqttrpc"
)

// A handler streams progress; the caller reads each response with its index
// as it comes.
func ExampleBroker_Stream() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	b, err := mqttrpc.Connect(ctx, srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	_, err = b.Subscriber(ctx, "rpc/scan", mqttrpc.TypedStream(func(ctx context.Context, steps int, send func(string) error) error {
		for i := 1; i <= steps; i++ {
			if err := send(fmt.Sprintf("%d/%d", i, steps)); err != nil {
				return err // the caller cancelled: context.Cause(ctx) says so
			}
		}
		return nil // ends the stream
	}), mqttrpc.QoS(1))
	if err != nil {
		log.Fatal(err)
	}

	for m, err := range b.Stream(ctx, "rpc/scan", 3, mqttrpc.QoS(1)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.StreamIndex(), string(m.Body))
	}
	// Output:
	// 0 1/3
	// 1 2/3
	// 2 3/3
}

// CallStream decodes each response; breaking out of the loop cancels the
// handler.
func ExampleCallStream() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	b, err := mqttrpc.Connect(ctx, srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	stopped := make(chan error, 1)
	_, err = b.Subscriber(ctx, "rpc/ticks", mqttrpc.TypedStream(func(ctx context.Context, _ string, send func(int) error) error {
		for i := 0; ; i++ {
			if err := send(i); err != nil {
				stopped <- context.Cause(ctx)
				return err
			}
		}
	}))
	if err != nil {
		log.Fatal(err)
	}

	for n, err := range mqttrpc.CallStream[int](ctx, b, "rpc/ticks", "go") {
		if err != nil {
			log.Fatal(err)
		}
		if n == 2 {
			break
		}
	}
	fmt.Println(<-stopped)
	// Output: the caller cancelled the call
}
