// Package bench measures mqttrpc's request/reply round trips against the
// same exchange written by hand on the Paho clients, against paho.golang's
// autopaho/extensions/rpc, and against NATS request/reply as a cross-protocol
// reference.
//
// The benchmarks live in the _test.go files; this module has its own go.mod
// so that their dependencies (NATS, extra brokers) never reach the library's.
// run.sh runs them and cmd/benchtable turns the output into Markdown tables.
package bench
