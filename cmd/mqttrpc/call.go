package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

const callHelp = `Usage: mqttrpc call TOPIC [BODY] [FLAGS]

Sends one request to TOPIC and prints the reply's body on stdout (indented
when it is JSON and stdout is a terminal). BODY is the text itself, @FILE for
a file's contents, or - for standard input; without it the body is empty.

Flags:
  -q, --qos N               QoS of the request: 0, 1 or 2 (default 0); at 1 and 2 an
                            MQTT 5 broker says at once when nobody subscribes (exit 4)
      --timeout D           how long to wait for the reply (default 5s)
  -H, --header KEY=VALUE    a header (MQTT 5 User Property); may repeat
      --correlation-id ID   Correlation Data (default: a random UUID)
  -r, --reply-topic TOPIC   wait for the reply on TOPIC; needed on MQTT 3.1.1
      --type T              send BODY as text (text/plain, the default), json
                            (checked, application/json) or bytes (no content type)
  -n, --count N             send N requests, one after another (default 1);
                            the first failure ends the command
  -v, --verbose             print each reply's topic, properties and round trip on stderr
` + connHelp + exitHelp

// exitHelp lists the exit codes, for the help of call and bench.
const exitHelp = `
Exit codes: 0 reply, 1 error reply (code and message on stderr), 2 usage,
3 timeout, 4 no responders, 5 connection failed or refused, 6 other failure,
130 interrupted.
`

// callFlags are the flags of the call command.
type callFlags struct {
	conn          connFlags
	qos           uint
	timeout       time.Duration
	headers       stringList
	correlationID string
	replyTopic    string
	bodyType      string
	count         int
	verbose       bool
}

// runCall is the call command.
func runCall(ctx context.Context, args []string, s streams) error {
	var f callFlags
	topic, body, err := f.parse(args, s)
	if err != nil {
		return err
	}
	opts, err := f.requestOptions()
	if err != nil {
		return err
	}
	b, err := f.conn.connect(ctx)
	if err != nil {
		return err
	}
	defer closeBroker(b)
	for range f.count {
		if err := callOnce(ctx, b, topic, body, opts, f.verbose, s); err != nil {
			return err
		}
	}
	return nil
}

// parse parses the command line into f and returns the topic and the body
// to send.
func (f *callFlags) parse(args []string, s streams) (topic string, body any, err error) {
	fs := newFlagSet("call")
	f.conn.register(fs)
	fs.UintVar(&f.qos, "q", 0, "")
	fs.UintVar(&f.qos, "qos", 0, "")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "")
	fs.Var(&f.headers, "H", "")
	fs.Var(&f.headers, "header", "")
	stringFlags(fs, &f.correlationID, "", "correlation-id")
	stringFlags(fs, &f.replyTopic, "", "r", "reply-topic")
	stringFlags(fs, &f.bodyType, typeText, "type")
	fs.IntVar(&f.count, "n", 1, "")
	fs.IntVar(&f.count, "count", 1, "")
	boolFlags(fs, &f.verbose, "v", "verbose")
	pos, err := parseArgs(fs, args, callHelp, s.stdout)
	if err != nil {
		return "", nil, err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return "", nil, usagef("want TOPIC and at most one BODY, got %d arguments", len(pos))
	}
	if err := checkType(f.bodyType); err != nil {
		return "", nil, err
	}
	var raw []byte
	if len(pos) == 2 {
		if raw, err = readBody(pos[1], s.stdin); err != nil {
			return "", nil, err
		}
	}
	if body, err = typedBody(raw, f.bodyType); err != nil {
		return "", nil, usagef("--type json: %v", err)
	}
	return pos[0], body, nil
}

// requestOptions checks the request flags and returns them as options for
// Broker.Request.
func (f *callFlags) requestOptions() ([]mqttrpc.RequestOption, error) {
	if f.qos > 2 {
		return nil, usagef("--qos %d: want 0, 1 or 2", f.qos)
	}
	if f.count < 1 {
		return nil, usagef("--count %d: want 1 or more", f.count)
	}
	if f.timeout <= 0 {
		return nil, usagef("--timeout %v: want a positive duration", f.timeout)
	}
	v, err := f.conn.protocol()
	if err != nil {
		return nil, err
	}
	if v == mqttrpc.V311 && f.replyTopic == "" {
		return nil, usagef("MQTT 3.1.1 has no Response Topic: name the reply topic with --reply-topic")
	}
	headers, err := parseHeaders(f.headers)
	if err != nil {
		return nil, err
	}
	opts := []mqttrpc.RequestOption{mqttrpc.QoS(byte(f.qos)), mqttrpc.Timeout(f.timeout)}
	if len(headers) > 0 {
		opts = append(opts, mqttrpc.Headers(headers))
	}
	if f.correlationID != "" {
		opts = append(opts, mqttrpc.CorrelationID(f.correlationID))
	}
	if f.replyTopic != "" {
		opts = append(opts, mqttrpc.ReplyTo(f.replyTopic))
	}
	return opts, nil
}

// parseHeaders turns KEY=VALUE flags into a map; a repeated key keeps its
// last value, as User Properties do in the library.
func parseHeaders(kvs []string) (map[string]string, error) {
	h := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--header %q: want KEY=VALUE", kv)
		}
		h[k] = v
	}
	return h, nil
}

// callOnce sends one request and prints its reply.
func callOnce(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts []mqttrpc.RequestOption, verbose bool, s streams) error {
	start := time.Now()
	reply, err := b.Request(ctx, topic, body, opts...)
	if err != nil {
		return err
	}
	if verbose {
		writeReplyMeta(s.stderr, reply, time.Since(start))
	}
	return writeBody(s.stdout, reply.Body, reply.ContentType)
}

// writeReplyMeta writes what a reply carried besides its body, one
// "name: value" line each, headers sorted by key.
func writeReplyMeta(w io.Writer, m *mqttrpc.Message, rtt time.Duration) {
	fmt.Fprintf(w, "topic: %s\n", m.Topic)
	if m.CorrelationID != "" {
		fmt.Fprintf(w, "correlation-id: %q\n", m.CorrelationID)
	}
	if m.ContentType != "" {
		fmt.Fprintf(w, "content-type: %s\n", m.ContentType)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		fmt.Fprintf(w, "header %s: %s\n", k, m.Headers[k])
	}
	fmt.Fprintf(w, "qos: %d\nround-trip: %v\n", m.QoS, rtt.Round(time.Microsecond))
}
