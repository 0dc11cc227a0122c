// Command v311 shows request/response on MQTT 3.1.1, which has no Response
// Topic or Correlation Data: the service replies to a topic it is configured
// with, and the caller waits on that same topic.
//
// With no flags it starts an embedded broker; -broker uses another one. No
// envelope is added to the payload, so plain MQTT 3.1.1 clients can take
// either side (interop/ tests mosquitto_pub and mosquitto_sub doing so).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// StatusRequest and Status are the JSON bodies of the call.
type StatusRequest struct {
	Verbose bool `json:"verbose"`
}

type Status struct {
	Device string `json:"device"`
	Uptime string `json:"uptime"`
}

func main() {
	brokerURL := flag.String("broker", "", "MQTT broker URL (default: start an embedded broker)")
	flag.Parse()
	if err := run(*brokerURL); err != nil {
		log.Fatal(err)
	}
}

func run(brokerURL string) error {
	if brokerURL == "" {
		srv, err := embedded.Start()
		if err != nil {
			return err
		}
		defer srv.Close()
		brokerURL = srv.URL()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The device side: serves devices/+/status and replies on <topic>/reply.
	device, err := mqttrpc.Connect(ctx, brokerURL, mqttrpc.WithVersion(mqttrpc.V311))
	if err != nil {
		return err
	}
	defer device.Close(ctx)
	started := time.Now()
	_, err = device.Subscriber(ctx, "devices/42/status", mqttrpc.Typed(func(_ context.Context, req StatusRequest) (Status, error) {
		return Status{Device: "42", Uptime: time.Since(started).Round(time.Millisecond).String()}, nil
	}), mqttrpc.QoS(1), mqttrpc.ReplyTopic("devices/42/status/reply"))
	if err != nil {
		return err
	}

	// The backend side: the same Request as on MQTT 5, plus the reply topic.
	backend, err := mqttrpc.Connect(ctx, brokerURL, mqttrpc.WithVersion(mqttrpc.V311))
	if err != nil {
		return err
	}
	defer backend.Close(ctx)
	reply, err := backend.Request(ctx, "devices/42/status", StatusRequest{Verbose: true},
		mqttrpc.QoS(1), mqttrpc.ReplyTo("devices/42/status/reply"))
	if err != nil {
		return err
	}
	var status Status
	if err := reply.Decode(&status); err != nil {
		return err
	}
	fmt.Printf("device %s is up for %s (reply on %s)\n", status.Device, status.Uptime, reply.Topic)

	// Without a reply topic, MQTT 3.1.1 cannot carry a request.
	_, err = backend.Request(ctx, "devices/42/status", StatusRequest{})
	fmt.Println("without ReplyTo:", err, errors.Is(err, mqttrpc.ErrFeatureNotSupported))
	return nil
}
