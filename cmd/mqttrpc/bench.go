package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

const benchHelp = `Usage: mqttrpc bench TOPIC [FLAGS]

Sends requests to TOPIC from concurrent callers, each waiting for its reply
before sending the next, and prints throughput and latency percentiles.
Something must answer on TOPIC: --serve runs an echo responder in the same
process, on a connection of its own, so that one command measures a broker.
SIGINT ends the run early; the report covers what was done.

Flags:
      --callers N           concurrent callers (default 1)
      --duration D          how long to send (default 10s, unless --count is given)
  -n, --count N             send N requests in all instead, spread over the callers
      --size N              request payload in bytes (default 128)
  -q, --qos N               QoS of requests and replies: 0, 1 or 2 (default 0)
      --timeout D           how long each request waits for its reply (default 5s)
  -r, --reply-topic TOPIC   the reply topic, needed on MQTT 3.1.1; there, callers
                            sharing it take turns, so more callers add no throughput
      --serve               also answer requests on TOPIC with an echo responder
      --json                print the report as JSON (latencies in nanoseconds)
` + connHelp + exitHelp + `A run with failed requests prints its report, then exits with the code of
the first failure.
`

// benchFlags are the flags of the bench command.
type benchFlags struct {
	conn       connFlags
	callers    int
	duration   time.Duration
	count      int
	size       int
	qos        uint
	timeout    time.Duration
	replyTopic string
	serve      bool
	json       bool
}

// runBench is the bench command.
func runBench(ctx context.Context, args []string, s streams) error {
	var f benchFlags
	topic, err := f.parse(args, s)
	if err != nil {
		return err
	}
	if f.serve {
		responder, err := f.startEcho(ctx, topic)
		if err != nil {
			return err
		}
		defer closeBroker(responder)
	}
	b, err := f.conn.connect(ctx)
	if err != nil {
		return err
	}
	defer closeBroker(b)

	r := f.measure(ctx, b, topic, s.stderr)
	if err := f.write(s.stdout, topic, b.Server(), r); err != nil {
		return err
	}
	return r.firstErr
}

// parse parses the command line into f, checks it, and returns the topic.
func (f *benchFlags) parse(args []string, s streams) (string, error) {
	fs := newFlagSet("bench")
	f.conn.register(fs)
	fs.IntVar(&f.callers, "callers", 1, "")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "")
	fs.IntVar(&f.count, "n", 0, "")
	fs.IntVar(&f.count, "count", 0, "")
	fs.IntVar(&f.size, "size", 128, "")
	fs.UintVar(&f.qos, "q", 0, "")
	fs.UintVar(&f.qos, "qos", 0, "")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "")
	stringFlags(fs, &f.replyTopic, "", "r", "reply-topic")
	boolFlags(fs, &f.serve, "serve")
	boolFlags(fs, &f.json, "json")
	pos, err := parseArgs(fs, args, benchHelp, s.stdout)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("want one TOPIC, got %d arguments", len(pos))
	}
	return pos[0], f.check()
}

// check reports usage errors in the flags.
func (f *benchFlags) check() error {
	v, err := f.conn.protocol()
	switch {
	case err != nil:
		return err
	case f.callers < 1:
		return usagef("--callers %d: want 1 or more", f.callers)
	case f.count < 0:
		return usagef("--count %d: want 1 or more", f.count)
	case f.count == 0 && f.duration <= 0:
		return usagef("--duration %v: want a positive duration", f.duration)
	case f.size < 0:
		return usagef("--size %d: want 0 or more", f.size)
	case f.qos > 2:
		return usagef("--qos %d: want 0, 1 or 2", f.qos)
	case f.timeout <= 0:
		return usagef("--timeout %v: want a positive duration", f.timeout)
	case v == mqttrpc.V311 && f.replyTopic == "":
		return usagef("MQTT 3.1.1 has no Response Topic: name the reply topic with --reply-topic")
	}
	return nil
}

// startEcho connects a second Broker that echoes requests on topic.
func (f *benchFlags) startEcho(ctx context.Context, topic string) (*mqttrpc.Broker, error) {
	conn := f.conn
	if conn.clientID != "" {
		conn.clientID += "-echo" // one client ID per connection
	}
	b, err := conn.connect(ctx)
	if err != nil {
		return nil, err
	}
	opts := []mqttrpc.SubscribeOption{mqttrpc.QoS(byte(f.qos))}
	if f.replyTopic != "" {
		opts = append(opts, mqttrpc.ReplyTopic(f.replyTopic))
	}
	if _, err := b.Subscriber(ctx, topic, mqttrpc.HandlerFunc(echo), opts...); err != nil {
		closeBroker(b)
		return nil, err
	}
	return b, nil
}

// benchResult is what a bench run measured.
type benchResult struct {
	elapsed   time.Duration
	ok        int64
	errors    int64
	latencies []time.Duration // of the successful round trips
	firstErr  error
}

// benchRun is a bench run under way: what its callers send, and what they
// have measured so far.
type benchRun struct {
	b       *mqttrpc.Broker
	topic   string
	payload []byte
	opts    []mqttrpc.RequestOption
	more    func() bool // reports whether a caller should send another request

	ok, fails atomic.Int64

	mu        sync.Mutex
	latencies []time.Duration
	firstErr  error
}

// measure runs the callers until the count is sent, the duration is over
// or ctx ends, and returns what they measured.
func (f *benchFlags) measure(ctx context.Context, b *mqttrpc.Broker, topic string, stderr io.Writer) *benchResult {
	r := &benchRun{b: b, topic: topic, payload: make([]byte, f.size)}
	for i := range r.payload {
		r.payload[i] = 'a' + byte(i%26)
	}
	r.opts = []mqttrpc.RequestOption{mqttrpc.QoS(byte(f.qos)), mqttrpc.Timeout(f.timeout)}
	if f.replyTopic != "" {
		r.opts = append(r.opts, mqttrpc.ReplyTo(f.replyTopic))
	}
	start := time.Now()
	r.more = f.until(ctx, start)
	stopProgress := startProgress(stderr, &r.ok, &r.fails, start)
	// Requests in flight when ctx ends still get their reply or timeout:
	// the run stops sending, and what was sent is measured.
	reqCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range f.callers {
		wg.Go(func() { r.call(reqCtx) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return &benchResult{
		elapsed: elapsed, ok: r.ok.Load(), errors: r.fails.Load(),
		latencies: r.latencies, firstErr: r.firstErr,
	}
}

// until returns the function that tells callers whether to send another
// request: while --count has requests left, or else until --duration has
// passed since start, and never once ctx has ended.
func (f *benchFlags) until(ctx context.Context, start time.Time) func() bool {
	end := start.Add(f.duration)
	var left atomic.Int64
	left.Store(int64(f.count))
	return func() bool {
		switch {
		case ctx.Err() != nil:
			return false
		case f.count > 0:
			return left.Add(-1) >= 0
		}
		return time.Now().Before(end)
	}
}

// call is one caller: it sends a request, waits for its reply, and sends
// the next for as long as r.more says, recording each round trip.
func (r *benchRun) call(ctx context.Context) {
	var mine []time.Duration
	for r.more() {
		t0 := time.Now()
		if _, err := r.b.Request(ctx, r.topic, r.payload, r.opts...); err != nil {
			r.fails.Add(1)
			r.mu.Lock()
			if r.firstErr == nil {
				r.firstErr = err
			}
			r.mu.Unlock()
			continue
		}
		mine = append(mine, time.Since(t0))
		r.ok.Add(1)
	}
	r.mu.Lock()
	r.latencies = append(r.latencies, mine...)
	r.mu.Unlock()
}

// benchReport is the report of a bench run, as --json prints it.
type benchReport struct {
	Topic      string    `json:"topic"`
	Server     string    `json:"server"`
	Version    string    `json:"protocol_version"`
	QoS        uint      `json:"qos"`
	Callers    int       `json:"callers"`
	Size       int       `json:"size"`
	Requests   int64     `json:"requests"`
	OK         int64     `json:"ok"`
	Errors     int64     `json:"errors"`
	FirstError string    `json:"first_error,omitempty"`
	Seconds    float64   `json:"seconds"`
	Throughput float64   `json:"round_trips_per_second"`
	Latency    latencies `json:"latency_ns"`
}

// write prints the report of r, measured on server, on w, as text or with
// --json as JSON.
func (f *benchFlags) write(w io.Writer, topic, server string, r *benchResult) error {
	v, _ := f.conn.protocol()
	rep := benchReport{
		Topic: topic, Server: server, Version: v.String(),
		QoS: f.qos, Callers: f.callers, Size: f.size,
		Requests: r.ok + r.errors, OK: r.ok, Errors: r.errors,
		Seconds:    r.elapsed.Seconds(),
		Throughput: float64(r.ok) / r.elapsed.Seconds(),
		Latency:    summarize(r.latencies),
	}
	if r.firstErr != nil {
		rep.FirstError = r.firstErr.Error()
	}
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	l := rep.Latency
	_, err := fmt.Fprintf(w, `bench %s on %s (MQTT %s, QoS %d, %d B, %d callers)
  requests    %d: %d ok, %d errors in %v
  throughput  %.0f round trips/s
  latency     p50 %v  p90 %v  p99 %v  p99.9 %v  max %v
`, rep.Topic, rep.Server, rep.Version, rep.QoS, rep.Size, rep.Callers,
		rep.Requests, rep.OK, rep.Errors, r.elapsed.Round(time.Millisecond), rep.Throughput,
		round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max))
	if err == nil && rep.FirstError != "" {
		_, err = fmt.Fprintf(w, "  first error %s\n", rep.FirstError)
	}
	return err
}

// round rounds a latency for people to read: to the microsecond.
func round(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
