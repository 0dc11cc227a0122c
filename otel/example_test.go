package otelmqttrpc_test

import (
	"context"
	"fmt"
	"log"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
	otelmqttrpc "github.com/mqttrpc/mqttrpc/otel"
)

func Example() {
	srv, err := embedded.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	spans := tracetest.NewSpanRecorder() // in a real service: an OTLP exporter
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	tel, err := otelmqttrpc.New(otelmqttrpc.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}

	// The hook traces every call of the Broker and every handler.
	b, err := mqttrpc.Connect(ctx, srv.URL(), mqttrpc.WithHook(tel))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	_, _ = b.Subscriber(ctx, "devices/{id}/echo", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return in, nil
	}))

	// A template names the call with one name for every device.
	reply, err := b.Request(ctx, "devices/42/echo", "hello", mqttrpc.TopicTemplate("devices/{id}/echo"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply.Body))
	for _, s := range spans.Ended() {
		fmt.Println(s.SpanKind(), s.Name(), "parent:", s.Parent().IsRemote())
	}
	// Output:
	// hello
	// consumer process devices/{id}/echo parent: true
	// producer send devices/{id}/echo parent: false
}
