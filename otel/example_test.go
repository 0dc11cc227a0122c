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

	b, err := mqttrpc.Connect(ctx, srv.URL(), mqttrpc.WithMiddleware(tel.Middleware))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	_, _ = b.Subscriber(ctx, "devices/{id}/echo", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return in, nil
	}))

	reply, err := tel.Request(ctx, b, "devices/42/echo", "hello")
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
	// producer send devices/42/echo parent: false
}
