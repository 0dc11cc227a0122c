package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

const benchHelp = `Usage: mqttrpc bench TOPIC [FLAGS]

Sends requests to TOPIC and prints throughput and latency percentiles. By
default concurrent callers each wait for their reply before sending the next
(closed loop): the report says how much the service takes. With --rate,
requests go out at a fixed rate whatever the replies do (open loop): the
report says how fast the service answers at that offered load, with latencies
counted from when each request was due, and how many were sent late.
Something must answer on TOPIC: --serve runs an echo responder in the same
process, on a connection of its own, so that one command measures a broker.
SIGINT ends the run early; the report covers what was done.

Flags:
      --callers N           concurrent callers, closed loop (default 1)
      --rate N              send N requests per second instead, open loop; a request
                            sent more than one interval (1/N s) after it was due is late
      --duration D          how long to send (default 10s, unless --count is given)
  -n, --count N             send N requests in all instead, spread over the callers
      --size N              request payload in bytes (default 128)
  -q, --qos N               QoS of requests and replies: 0, 1 or 2 (default 0)
      --timeout D           how long each request waits for its reply (default 5s)
  -r, --reply-topic TOPIC   the reply topic, for MQTT 3.1.1; there, callers sharing
                            it take turns, so more callers add no throughput
      --token-reply PREFIX  send to TOPIC/<token> and take replies on PREFIX/<token>:
                            on MQTT 3.1.1, requests in flight at once
      --serve               also answer requests on TOPIC with an echo responder
      --json                print the report as JSON (latencies in nanoseconds)
      --csv                 print the report as CSV, a header line and one row
                            (latencies in nanoseconds), to collect runs in a table
` + connHelp + exitHelp + `A run with failed requests prints its report, then exits with the code of
the first failure.
`

// benchFlags are the flags of the bench command.
type benchFlags struct {
	conn       connFlags
	callers    int
	rate       float64
	tokenReply string
	csv        bool
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
	fs.Float64Var(&f.rate, "rate", 0, "")
	stringFlags(fs, &f.tokenReply, "", "token-reply")
	boolFlags(fs, &f.csv, "csv")
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
	if f.rate != 0 && isSet(fs, "callers") {
		return "", usagef("--callers is for the closed loop, --rate for the open loop: give one")
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
	case f.rate < 0 || f.rate > 1e6:
		return usagef("--rate %v: want a rate of requests per second above 0, at most 1e6", f.rate)
	case f.json && f.csv:
		return usagef("--json and --csv: give one")
	case f.replyTopic != "" && f.tokenReply != "":
		return usagef("--reply-topic and --token-reply both say where replies come: give one")
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
	case v == mqttrpc.V311 && f.replyTopic == "" && f.tokenReply == "":
		return usagef("MQTT 3.1.1 has no Response Topic: name the reply topic with --token-reply PREFIX or --reply-topic TOPIC")
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
	pattern := topic
	switch {
	case f.replyTopic != "":
		opts = append(opts, mqttrpc.ReplyTopic(f.replyTopic))
	case f.tokenReply != "":
		pattern += "/{token}"
		opts = append(opts, mqttrpc.ReplyTopic(f.tokenReply+"/{token}"))
	}
	if _, err := b.Subscriber(ctx, pattern, mqttrpc.HandlerFunc(echo), opts...); err != nil {
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
	late      int64           // open loop: sent more than an interval after due
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

	ok, fails, late atomic.Int64

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
	if f.tokenReply != "" {
		r.opts = append(r.opts, mqttrpc.TokenReply(f.tokenReply))
	}
	start := time.Now()
	r.more = f.until(ctx, start)
	stopProgress := startProgress(stderr, &r.ok, &r.fails, start)
	// Requests in flight when ctx ends still get their reply or timeout:
	// the run stops sending, and what was sent is measured.
	reqCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	if f.rate > 0 {
		r.openLoop(ctx, reqCtx, &wg, start, time.Duration(float64(time.Second)/f.rate))
	} else {
		for range f.callers {
			wg.Go(func() { r.call(reqCtx) })
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	return &benchResult{
		elapsed: elapsed, ok: r.ok.Load(), errors: r.fails.Load(), late: r.late.Load(),
		latencies: r.latencies, firstErr: r.firstErr,
	}
}

// openLoop sends a request every interval from start, each on a goroutine
// of its own added to wg, for as long as r.more says or until ctx ends,
// whatever the replies do. A request's latency runs from when it was due,
// so that a send the loop could not make in time counts against the
// service under test rather than vanishing; one sent more than an interval
// after it was due is counted late.
func (r *benchRun) openLoop(ctx, reqCtx context.Context, wg *sync.WaitGroup, start time.Time, interval time.Duration) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if !r.more() {
			return
		}
		if time.Since(due) > interval {
			r.late.Add(1)
		}
		wg.Go(func() {
			if d, ok := r.one(reqCtx, due); ok {
				r.mu.Lock()
				r.latencies = append(r.latencies, d)
				r.mu.Unlock()
			}
		})
	}
}

// one sends a request and returns its latency from t0, or records its
// failure and returns false.
func (r *benchRun) one(ctx context.Context, t0 time.Time) (time.Duration, bool) {
	if _, err := r.b.Request(ctx, r.topic, r.payload, r.opts...); err != nil {
		r.fails.Add(1)
		r.mu.Lock()
		if r.firstErr == nil {
			r.firstErr = err
		}
		r.mu.Unlock()
		return 0, false
	}
	d := time.Since(t0)
	r.ok.Add(1)
	return d, true
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
		if d, ok := r.one(ctx, time.Now()); ok {
			mine = append(mine, d)
		}
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
	Loop       string    `json:"loop"`           // "closed" or "open"
	Callers    int       `json:"callers"`        // closed loop
	Rate       float64   `json:"rate,omitempty"` // open loop: requests per second offered
	Late       int64     `json:"late"`           // open loop: sent more than an interval after due
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
		QoS: f.qos, Loop: "closed", Callers: f.callers, Size: f.size,
		Requests: r.ok + r.errors, OK: r.ok, Errors: r.errors, Late: r.late,
		Seconds:    r.elapsed.Seconds(),
		Throughput: float64(r.ok) / r.elapsed.Seconds(),
		Latency:    summarize(r.latencies),
	}
	if r.firstErr != nil {
		rep.FirstError = r.firstErr.Error()
	}
	load := plural(rep.Callers, "caller")
	if f.rate > 0 {
		rep.Loop, rep.Callers, rep.Rate = "open", 0, f.rate
		load = fmt.Sprintf("open loop at %g requests/s", f.rate)
	}
	switch {
	case f.json:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case f.csv:
		return writeBenchCSV(w, rep)
	}
	l := rep.Latency
	_, err := fmt.Fprintf(w, `bench %s on %s (MQTT %s, QoS %d, %d B, %s)
  requests    %d: %d ok, %d errors in %v
  throughput  %.0f round trips/s
  latency     p50 %v  p90 %v  p99 %v  p99.9 %v  max %v
`, rep.Topic, rep.Server, rep.Version, rep.QoS, rep.Size, load,
		rep.Requests, rep.OK, rep.Errors, r.elapsed.Round(time.Millisecond), rep.Throughput,
		round(l.P50), round(l.P90), round(l.P99), round(l.P999), round(l.Max))
	if err == nil && f.rate > 0 {
		_, err = fmt.Fprintf(w, "  late        %d sent more than %v after due\n", rep.Late, time.Duration(float64(time.Second)/f.rate).Round(time.Microsecond))
	}
	if err == nil && rep.FirstError != "" {
		_, err = fmt.Fprintf(w, "  first error %s\n", rep.FirstError)
	}
	return err
}

// round rounds a latency for people to read: to the microsecond.
func round(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

// plural returns n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// benchCSVHeader names the columns of bench --csv.
var benchCSVHeader = []string{
	"topic", "server", "protocol_version", "qos", "loop", "callers", "rate", "size",
	"requests", "ok", "errors", "late", "seconds", "round_trips_per_second",
	"p50_ns", "p90_ns", "p99_ns", "p99.9_ns", "max_ns", "mean_ns", "first_error",
}

// writeBenchCSV prints rep as CSV: the header line and one row.
func writeBenchCSV(w io.Writer, rep benchReport) error {
	d := func(v time.Duration) string { return strconv.FormatInt(int64(v), 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	l := rep.Latency
	cw := csv.NewWriter(w)
	cw.Write(benchCSVHeader)
	cw.Write([]string{
		rep.Topic, rep.Server, rep.Version, strconv.FormatUint(uint64(rep.QoS), 10), rep.Loop,
		strconv.Itoa(rep.Callers), f(rep.Rate), strconv.Itoa(rep.Size),
		i(rep.Requests), i(rep.OK), i(rep.Errors), i(rep.Late), f(rep.Seconds), f(rep.Throughput),
		d(l.P50), d(l.P90), d(l.P99), d(l.P999), d(l.Max), d(l.Mean), rep.FirstError,
	})
	cw.Flush()
	return cw.Error()
}
