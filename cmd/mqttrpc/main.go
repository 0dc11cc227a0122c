// Command mqttrpc calls and serves request/response RPC over MQTT from a
// shell, measures round trips, and runs an MQTT broker for local
// development, in the way mosquitto_rr and the nats command do:
//
//	mqttrpc broker &
//	mqttrpc serve 'devices/{id}/reboot' --exec 'echo "rebooting $MQTTRPC_PARAM_ID"' &
//	mqttrpc call devices/42/reboot
//	mqttrpc bench rpc/bench --serve --callers 16 --duration 5s
//	mqttrpc ls
//	mqttrpc ui
//
// Run "mqttrpc help" for the commands, and README.md for the exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal ends ctx, and commands wind down; a second one ends
	// the process at once, as signals do by default.
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// streams are the standard streams a command reads and writes.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand: its name, a line for the help, and the
// function that runs it. A command returns an error for run to report
// and turn into an exit code.
type command struct {
	name    string
	summary string
	help    string // what -h prints, whose flag lines completion reads
	run     func(ctx context.Context, args []string, s streams) error
}

var commands []command

// The list refers to completion, which reads it: it is filled in init.
func init() {
	commands = []command{
		{"call", "send one request and print its reply, or gather several", callHelp, runCall},
		{"serve", "answer requests: echo, a fixed reply, or a shell command", serveHelp, runServe},
		{"bench", "measure round trips: throughput and latency percentiles", benchHelp, runBench},
		{"broker", "run an embedded MQTT broker for local development", brokerHelp, runBroker},
		{"ui", "serve the explorer, a web page to find services and call them", uiHelp, runUI},
		{"ls", "list the service instances that answer discovery", lsHelp, lsCommand.run},
		{"ping", "ping service instances and print their round trips", pingHelp, pingCommand.run},
		{"info", "print a service's endpoints: patterns, QoS, reply topics, schemas", infoHelp, infoCommand.run},
		{"stats", "print a service's request, error and timing statistics", statsHelp, statsCommand.run},
		{"docs", "print the AsyncAPI document of the services", docsHelp, docsCommand.run},
		{"version", "print the command's version and the Go version it was built with", versionHelp, runVersion},
		{"completion", "print a shell completion script: bash, zsh or fish", completionHelp, runCompletion},
	}
}

// run runs the command args name and returns the process's exit code. It
// reads and writes only the streams it is given, so tests call it in
// process; ctx ends when the process is asked to stop.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := streams{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "--version", "-version":
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return report(c.name, c.run(ctx, args[1:], s), stderr)
		}
	}
	fmt.Fprintf(stderr, "mqttrpc: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

// report writes err, if any, to stderr and returns its exit code.
func report(name string, err error, stderr io.Writer) int {
	var (
		ue   usageError
		done reported
	)
	switch {
	case err == nil:
	case errors.As(err, &done):
	case errors.Is(err, flag.ErrHelp):
		return exitOK // the flag package has printed the help
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mqttrpc %s: %v\nRun 'mqttrpc %s -h' for usage.\n", name, err, name)
	default:
		writeError(stderr, name, err)
	}
	return exitCode(err)
}

// writeError writes err on stderr, each line headed by "mqttrpc NAME: ",
// which names the command, in place of the "mqttrpc: " the library's
// errors start with.
func writeError(stderr io.Writer, name string, err error) {
	for line := range strings.Lines(err.Error()) {
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimPrefix(line, "mqttrpc: ")
		line = strings.TrimPrefix(line, "mqttrpc "+name+": ")
		fmt.Fprintf(stderr, "mqttrpc %s: %s\n", name, line)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, "mqttrpc: request/response RPC over MQTT 5 and 3.1.1\n\nUsage:\n  mqttrpc COMMAND [ARGS] [FLAGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'mqttrpc COMMAND -h' for a command's flags.\n")
}
