package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mqttrpc/mqttrpc/embedded"
)

const brokerHelp = `Usage: mqttrpc broker [FLAGS]

Runs the embedded MQTT broker (mochi-mqtt, MQTT 5 and 3.1.1) until SIGINT or
SIGTERM, for local development. It accepts every client and allows every
topic, and keeps everything in memory: do not expose it beyond your machine.

Flags:
      --listen ADDR         TCP address to listen on (default 127.0.0.1:1883)
      --ws ADDR             also serve MQTT over WebSocket on ADDR (any path, e.g.
                            ws://127.0.0.1:9001/mqtt), for web pages and dashboards
  -v, --verbose             log the broker's debug messages on stderr, among them a
                            line for each client that disconnects
`

// runBroker is the broker command.
func runBroker(ctx context.Context, args []string, s streams) error {
	fs := newFlagSet("broker")
	var listen, ws string
	var verbose bool
	stringFlags(fs, &listen, "127.0.0.1:1883", "listen")
	stringFlags(fs, &ws, "", "ws")
	boolFlags(fs, &verbose, "v", "verbose")
	pos, err := parseArgs(fs, args, brokerHelp, s.stdout)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("want no arguments, got %q", pos)
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: level}))
	opts := []embedded.Option{embedded.WithAddr(listen), embedded.WithLogger(logger)}
	if ws != "" {
		opts = append(opts, embedded.WithWebsocket(ws))
	}
	srv, err := embedded.Start(opts...)
	if err != nil {
		return err
	}
	urls := srv.URL()
	if ws != "" {
		urls += " and " + srv.WebsocketURL()
	}
	fmt.Fprintf(s.stderr, "mqttrpc: broker listening on %s\n", urls)
	<-ctx.Done()
	return srv.Close()
}
