package mqttrpc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// startBroker starts an embedded MQTT broker for an example.
func startBroker() *embedded.Server {
	srv, err := embedded.Start()
	if err != nil {
		log.Fatal(err)
	}
	return srv
}

func Example() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	b, err := mqttrpc.Connect(ctx, srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	_, err = b.Subscriber(ctx, "rpc/echo", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return "echo: " + in, nil
	}))
	if err != nil {
		log.Fatal(err)
	}

	reply, err := b.Request(ctx, "rpc/echo", "hello", mqttrpc.Timeout(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply.Body))
	// Output: echo: hello
}

func ExampleTyped() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	type sum struct{ A, B int }
	_, _ = b.Subscriber(ctx, "calc/add", mqttrpc.Typed(func(_ context.Context, in sum) (int, error) {
		return in.A + in.B, nil
	}))

	reply, _ := b.Request(ctx, "calc/add", sum{A: 2, B: 3}) // sent as JSON
	var total int
	_ = reply.Decode(&total)
	fmt.Println(total, reply.ContentType)
	// Output: 5 application/json
}

func ExampleHandlerFunc() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	_, _ = b.Subscriber(ctx, "devices/+/reboot", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{
			Body:    "rebooting " + m.Topic,
			Headers: map[string]string{"by": m.Header("user")},
			QoS:     1,
		}, nil
	}))

	reply, _ := b.Request(ctx, "devices/42/reboot", nil, mqttrpc.Headers(map[string]string{"user": "ops"}))
	fmt.Println(string(reply.Body), reply.Header("by"), reply.QoS)
	// Output: rebooting devices/42/reboot ops 1
}

func ExampleErrorf() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	_, _ = b.Subscriber(ctx, "devices/get", mqttrpc.Typed(func(_ context.Context, id string) (string, error) {
		return "", mqttrpc.Errorf(404, "device %s not found", id)
	}))

	_, err := b.Request(ctx, "devices/get", "42")
	var re *mqttrpc.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Code, re.Message)
	}
	// Output: 404 device 42 not found
}

func ExampleBroker_Request_timeout() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	_, err := b.Request(ctx, "nobody/listens", "ping", mqttrpc.Timeout(100*time.Millisecond))
	fmt.Println(errors.Is(err, mqttrpc.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

// On MQTT 3.1.1 both sides name the reply topic: the caller with ReplyTo,
// the service with ReplyTopic. Without ReplyTo, Request fails at once.
func ExampleReplyTo() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL(), mqttrpc.WithVersion(mqttrpc.V311))
	defer b.Close(ctx)

	_, _ = b.Subscriber(ctx, "rpc/echo", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return in, nil
	}), mqttrpc.ReplyTopic("rpc/echo/reply"))

	reply, _ := b.Request(ctx, "rpc/echo", "hi", mqttrpc.ReplyTo("rpc/echo/reply"))
	fmt.Println(string(reply.Body))

	_, err := b.Request(ctx, "rpc/echo", "hi")
	fmt.Println(errors.Is(err, mqttrpc.ErrFeatureNotSupported))
	// Output:
	// hi
	// true
}

func ExampleNoReply() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	got := make(chan string, 1)
	_, _ = b.Subscriber(ctx, "events/door", mqttrpc.Typed(func(_ context.Context, state string) (any, error) {
		got <- state
		return nil, nil
	}), mqttrpc.NoReply())

	_ = b.Publish(ctx, "events/door", "open")
	fmt.Println(<-got)
	// Output: open
}

func ExampleBroker_Close() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())

	// Close waits for running handlers, bounded by its context.
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println(b.Close(closeCtx))
	fmt.Println(b.Close(closeCtx)) // safe to call twice

	_, err := b.Request(ctx, "rpc/echo", "late")
	fmt.Println(err)
	// Output:
	// <nil>
	// <nil>
	// mqttrpc: request "rpc/echo": broker closed
}

func ExampleWithStateHandler() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	changes := make(chan mqttrpc.StateChange, 4)
	b, _ := mqttrpc.Connect(ctx, srv.URL(), mqttrpc.WithStateHandler(func(s mqttrpc.StateChange) {
		changes <- s // called in order, on a goroutine of the Broker's own
	}))
	s := <-changes
	fmt.Println(s.State, s.Server == srv.URL())
	_ = b.Close(ctx)
	s = <-changes
	fmt.Println(s.State, s.Server == srv.URL())
	// Output:
	// connected true
	// closed true
}

// A request delivered twice, as a QoS 1 redelivery or a retry with the same
// Correlation Data would bring it, runs its handler once.
func ExampleDeduplicate() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	calls := 0
	_, _ = b.Subscriber(ctx, "bank/transfer", mqttrpc.Typed(func(_ context.Context, amount int) (string, error) {
		calls++ // not idempotent
		return fmt.Sprintf("moved %d", amount), nil
	}), mqttrpc.Deduplicate(1000), mqttrpc.Concurrency(1))

	for range 2 {
		reply, _ := b.Request(ctx, "bank/transfer", 100, mqttrpc.CorrelationID("tx-42"))
		fmt.Println(string(reply.Body))
	}
	fmt.Println("handler ran", calls, "time")
	// Output:
	// moved 100
	// moved 100
	// handler ran 1 time
}

func ExampleMessage_Param() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	// {id} is one level (+ on the wire), {rest...} the rest of the topic (#).
	_, _ = b.Subscriber(ctx, "devices/{id}/files/{path...}", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{Body: m.Param("id") + " " + m.Param("path")}, nil
	}))

	reply, _ := b.Request(ctx, "devices/42/files/etc/hosts", nil)
	fmt.Println(string(reply.Body))
	// Output: 42 etc/hosts
}

// The most specific pattern serves a request, whatever the order the
// handlers were registered in, and only it.
func ExampleBroker_Subscriber_overlapping() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	_, _ = b.Subscriber(ctx, "devices/#", mqttrpc.Typed(func(context.Context, []byte) (string, error) {
		return "catch-all", nil
	}))
	_, _ = b.Subscriber(ctx, "devices/{id}/reboot", mqttrpc.Typed(func(context.Context, []byte) (string, error) {
		return "reboot", nil
	}))

	for _, topic := range []string{"devices/1/reboot", "devices/1/status"} {
		reply, _ := b.Request(ctx, topic, nil)
		fmt.Println(topic, string(reply.Body))
	}
	// Output:
	// devices/1/reboot reboot
	// devices/1/status catch-all
}

func ExampleMessageFromContext() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	type reboot struct{ Delay int }
	_, _ = b.Subscriber(ctx, "devices/{id}/reboot", mqttrpc.Typed(func(ctx context.Context, r reboot) (string, error) {
		m := mqttrpc.MessageFromContext(ctx) // a typed handler still sees the request
		m.SetReplyHeader("device", m.Param("id"))
		return fmt.Sprintf("rebooting in %ds", r.Delay), nil
	}))

	reply, _ := b.Request(ctx, "devices/7/reboot", reboot{Delay: 5})
	fmt.Println(string(reply.Body), reply.Header("device"))
	// Output: rebooting in 5s 7
}

func ExampleCall() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	type status struct {
		Online bool `json:"online"`
	}
	_, _ = b.Subscriber(ctx, "devices/{id}/status", mqttrpc.Typed(func(context.Context, []byte) (status, error) {
		return status{Online: true}, nil
	}))

	s, err := mqttrpc.Call[status](ctx, b, "devices/7/status", nil)
	fmt.Println(s.Online, err)
	// Output: true <nil>
}

func ExampleMiddleware() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()

	requireToken := func(next mqttrpc.Handler) mqttrpc.Handler {
		return mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			if m.Header("token") != "s3cret" {
				return nil, mqttrpc.Errorf(403, "forbidden")
			}
			return next.ServeRPC(ctx, m)
		})
	}
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)
	_, _ = b.Subscriber(ctx, "admin/reboot", mqttrpc.Typed(func(context.Context, []byte) (string, error) {
		return "ok", nil
	}), mqttrpc.Use(requireToken))

	_, err := b.Request(ctx, "admin/reboot", nil)
	fmt.Println(err)
	reply, _ := b.Request(ctx, "admin/reboot", nil, mqttrpc.Headers(map[string]string{"token": "s3cret"}))
	fmt.Println(string(reply.Body))
	// Output:
	// mqttrpc: request "admin/reboot": remote error 403: forbidden
	// ok
}

func ExampleBroker_Group() {
	srv := startBroker()
	defer srv.Close()
	ctx := context.Background()
	b, _ := mqttrpc.Connect(ctx, srv.URL())
	defer b.Close(ctx)

	site := b.Group("site/{site}", mqttrpc.QoS(1))
	s, _ := site.Subscriber(ctx, "devices/{id}/ping", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{Body: "pong from " + m.Param("id") + "@" + m.Param("site")}, nil
	}))

	reply, _ := b.Request(ctx, "site/berlin/devices/7/ping", nil)
	fmt.Println(s.Pattern(), s.Filter())
	fmt.Println(string(reply.Body))
	// Output:
	// site/{site}/devices/{id}/ping site/+/devices/+/ping
	// pong from 7@berlin
}
