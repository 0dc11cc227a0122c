// Command firmware shows a long-running command: a device's "update
// firmware" streams its progress from 0 to 100 % and then its new version;
// the caller draws a progress bar, and Ctrl-C cancels the update, which the
// device notices at once and reports.
//
// With no flags it starts an embedded MQTT broker and runs the device and
// the caller in one process. -device runs only the device, -call only the
// caller, so the two can run in two terminals:
//
//	go run ./examples/firmware -device -broker mqtt://localhost:1883
//	go run ./examples/firmware -call -broker mqtt://localhost:1883 -to 2.1.0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// Update asks a device to install a firmware version.
type Update struct {
	Version string `json:"version"`
}

// Progress is one response of the update's stream: the percentage done,
// and, in the last one, the version now running.
type Progress struct {
	Percent int    `json:"percent"`
	Version string `json:"version,omitempty"`
}

const topic = "devices/{id}/firmware/update"

func main() {
	brokerURL := flag.String("broker", "", "MQTT broker URL (default: start an embedded broker)")
	device := flag.Bool("device", false, "only run the device until SIGINT or SIGTERM")
	call := flag.Bool("call", false, "only run the caller")
	id := flag.String("id", "42", "device id")
	to := flag.String("to", "2.0.0", "firmware version to install")
	step := flag.Duration("step", 50*time.Millisecond, "time the device takes per percent")
	flag.Parse()
	if err := run(*brokerURL, *device, *call, *id, *to, *step); err != nil {
		log.Fatal(err)
	}
}

func run(brokerURL string, device, call bool, id, to string, step time.Duration) error {
	if !device && !call {
		device, call = true, true
	}
	if brokerURL == "" {
		srv, err := embedded.Start()
		if err != nil {
			return err
		}
		defer srv.Close()
		brokerURL = srv.URL()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := mqttrpc.Connect(ctx, brokerURL, mqttrpc.WithLogger(logger))
	if err != nil {
		return err
	}
	defer b.Close(context.Background())

	if device {
		stopped := make(chan struct{}, 1)
		if err := serveDevice(ctx, b, step, stopped); err != nil {
			return err
		}
		if !call {
			fmt.Printf("device serving %s on %s; Ctrl-C to stop\n", topic, brokerURL)
			<-ctx.Done()
			return nil
		}
		defer func() { // in one process, show the device's side of a cancel
			select {
			case <-stopped:
			case <-time.After(time.Second):
			}
		}()
	}
	return update(ctx, b, id, to)
}

// serveDevice registers the device's streaming handler.
func serveDevice(ctx context.Context, b *mqttrpc.Broker, step time.Duration, stopped chan<- struct{}) error {
	current := "1.0.0"
	_, err := b.Subscriber(ctx, topic, mqttrpc.TypedStream(func(ctx context.Context, u Update, send func(Progress) error) error {
		id := mqttrpc.MessageFromContext(ctx).Param("id")
		for pct := 0; pct <= 100; pct++ {
			if err := send(Progress{Percent: pct}); err != nil {
				fmt.Printf("\ndevice %s: update to %s stopped at %d %%: %v\n", id, u.Version, pct, context.Cause(ctx))
				stopped <- struct{}{}
				return err
			}
			select { // the work of one percent: flashing, verifying...
			case <-time.After(step):
			case <-ctx.Done():
				fmt.Printf("\ndevice %s: update to %s stopped at %d %%: %v\n", id, u.Version, pct, context.Cause(ctx))
				stopped <- struct{}{}
				return ctx.Err()
			}
		}
		current = u.Version
		return send(Progress{Percent: 100, Version: current})
	}), mqttrpc.QoS(1), mqttrpc.Concurrency(1))
	return err
}

// update asks device id to install version to, drawing its progress.
func update(ctx context.Context, b *mqttrpc.Broker, id, to string) error {
	dest := strings.Replace(topic, "{id}", id, 1)
	fmt.Printf("updating device %s to %s (Ctrl-C cancels)\n", id, to)
	for p, err := range mqttrpc.CallStream[Progress](ctx, b, dest, Update{Version: to},
		mqttrpc.QoS(1), mqttrpc.IdleTimeout(10*time.Second)) {
		switch {
		case errors.Is(err, context.Canceled):
			fmt.Println("\ncancelled")
			return nil
		case err != nil:
			return err
		case p.Version != "":
			fmt.Printf("\ndevice %s now runs %s\n", id, p.Version)
		default:
			bar := strings.Repeat("#", p.Percent/2) + strings.Repeat(".", 50-p.Percent/2)
			fmt.Printf("\r[%s] %3d %%", bar, p.Percent)
		}
	}
	return nil
}
