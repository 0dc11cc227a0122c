// Command echo shows an mqttrpc round trip: an echo service on rpc/echo and
// a request to it.
//
// With no flags it starts an embedded MQTT broker, serves, sends one request,
// prints it and its reply, and exits. -broker uses an external broker instead,
// and -serve runs only the service until interrupted, answering any MQTT 5
// client that sets a Response Topic:
//
//	go run ./examples/echo -serve -broker mqtt://localhost:1883
//	mosquitto_rr -V 5 -t rpc/echo -e my/replies -m hi -D publish correlation-data 42
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

func main() {
	brokerURL := flag.String("broker", "", "MQTT broker URL (default: start an embedded broker)")
	serve := flag.Bool("serve", false, "only serve rpc/echo until SIGINT or SIGTERM")
	version := flag.String("v", "5", "MQTT version: 5 or 3.1.1")
	message := flag.String("m", "hello", "message to send")
	flag.Parse()
	if err := run(*brokerURL, *serve, *version, *message); err != nil {
		log.Fatal(err)
	}
}

func run(brokerURL string, serve bool, version, message string) error {
	v := mqttrpc.V5
	switch version {
	case "5":
	case "3.1.1", "311", "4":
		v = mqttrpc.V311
	default:
		return fmt.Errorf("unknown MQTT version %q (want 5 or 3.1.1)", version)
	}
	if brokerURL == "" {
		srv, err := embedded.Start()
		if err != nil {
			return err
		}
		defer srv.Close()
		brokerURL = srv.URL()
		fmt.Println("embedded broker at", brokerURL)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := mqttrpc.Connect(ctx, brokerURL, mqttrpc.WithVersion(v), mqttrpc.WithLogger(logger))
	if err != nil {
		return err
	}
	defer b.Close(context.Background())

	// On MQTT 3.1.1 requests carry no reply address, so both sides name one.
	var serveOpts []mqttrpc.SubscribeOption
	var requestOpts []mqttrpc.RequestOption
	if v == mqttrpc.V311 {
		serveOpts = append(serveOpts, mqttrpc.ReplyTopic("rpc/echo/reply"))
		requestOpts = append(requestOpts, mqttrpc.ReplyTo("rpc/echo/reply"))
	}
	_, err = b.Subscriber(ctx, "rpc/echo", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return in, nil
	}), append(serveOpts, mqttrpc.QoS(1))...)
	if err != nil {
		return err
	}

	if serve {
		fmt.Printf("serving rpc/echo on %s (MQTT %s); Ctrl-C to stop\n", brokerURL, v)
		<-ctx.Done()
		return nil
	}

	start := time.Now()
	reply, err := b.Request(ctx, "rpc/echo", message, append(requestOpts, mqttrpc.QoS(1))...)
	if err != nil {
		return err
	}
	fmt.Printf("request: rpc/echo %q (MQTT %s)\n", message, v)
	fmt.Printf("reply:   %s %q in %v\n", reply.Topic, reply.Body, time.Since(start).Round(time.Microsecond))
	return nil
}
