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
With --replies, it prints the body of every reply that comes, one after
another, as they come: scatter-gather, for a request many responders answer.
With --stream, it calls a streaming handler and prints each of its responses
as it comes, until the handler ends the stream; SIGINT (Ctrl-C) cancels the
handler (MQTT 5 only).

Flags:
  -q, --qos N               QoS of the request: 0, 1 or 2 (default 0); at 1 and 2 an
                            MQTT 5 broker says at once when nobody subscribes (exit 4)
      --timeout D           how long to wait for the reply (default 5s)
      --replies N           gather replies until N have come (default 1); 0 gathers
                            every reply that comes within --reply-timeout
      --reply-timeout D     with --replies: how long to gather replies, in all, from
                            the request on (default: --timeout); fewer than N replies
                            by then exits 3, as does none with --replies 0
      --stream              read a stream of responses: print each as it comes, until the
                            handler ends the stream; --timeout bounds the wait for each
                            response, not the whole stream; SIGINT cancels the handler
  -H, --header KEY=VALUE    a header (MQTT 5 User Property); may repeat
      --correlation-id ID   Correlation Data (default: a random UUID)
  -r, --reply-topic TOPIC   wait for the reply on TOPIC, one request at a time
      --token-reply PREFIX  send to TOPIC/<token> and wait for the reply on
                            PREFIX/<token>, a fresh token per request: the way to
                            run RPC on MQTT 3.1.1 (serve 'TOPIC/{token}' -r 'PREFIX/{token}')
      --type T              send BODY as text (text/plain, the default), json
                            (checked, application/json) or bytes (no content type)
  -n, --count N             send N requests, one after another (default 1);
                            the first failure ends the command
  -v, --verbose             print each reply's topic, properties and round trip on
                            stderr, an error reply's too; with --stream, each
                            response's index first
` + connHelp + `
MQTT 3.1.1 has no Response Topic, Correlation Data or User Properties: the
request needs --reply-topic or --token-reply, and -H and --correlation-id are
not sent (a warning on stderr says so).
` + exitHelp

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
	tokenReply    string
	bodyType      string
	count         int
	replies       int
	replyTimeout  time.Duration
	stream        bool
	verbose       bool
}

// runCall is the call command.
func runCall(ctx context.Context, args []string, s streams) error {
	var f callFlags
	topic, body, err := f.parse(args, s)
	if err != nil {
		return err
	}
	opts, err := f.requestOptions(s)
	if err != nil {
		return err
	}
	b, err := f.conn.connect(ctx)
	if err != nil {
		return err
	}
	defer closeBroker(b)
	for range f.count {
		call := f.callOnce
		switch {
		case f.stream:
			call = f.readStream
		case f.replies != 1:
			call = f.gather
		}
		if err := call(ctx, b, topic, body, opts, s); err != nil {
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
	stringFlags(fs, &f.tokenReply, "", "token-reply")
	fs.IntVar(&f.replies, "replies", 1, "")
	fs.DurationVar(&f.replyTimeout, "reply-timeout", 0, "")
	boolFlags(fs, &f.stream, "stream")
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
// On MQTT 3.1.1, which cannot carry them, headers and the correlation ID
// are left out with a warning on stderr.
func (f *callFlags) requestOptions(s streams) ([]mqttrpc.RequestOption, error) {
	switch {
	case f.qos > 2:
		return nil, usagef("--qos %d: want 0, 1 or 2", f.qos)
	case f.count < 1:
		return nil, usagef("--count %d: want 1 or more", f.count)
	case f.timeout <= 0:
		return nil, usagef("--timeout %v: want a positive duration", f.timeout)
	case f.replies < 0:
		return nil, usagef("--replies %d: want 1 or more, or 0 for every reply within --reply-timeout", f.replies)
	case f.replyTimeout < 0:
		return nil, usagef("--reply-timeout %v: want a positive duration", f.replyTimeout)
	case f.replyTimeout > 0 && f.replies == 1:
		return nil, usagef("--reply-timeout is for gathering --replies: with one reply, --timeout bounds the wait")
	case f.replyTopic != "" && f.tokenReply != "":
		return nil, usagef("--reply-topic and --token-reply both say where the reply comes: give one")
	case f.stream && (f.replies != 1 || f.replyTimeout > 0):
		return nil, usagef("--stream reads the responses of one handler: --replies and --reply-timeout gather the replies of many")
	case f.stream && f.tokenReply != "":
		return nil, usagef("--stream needs the User Properties of MQTT 5, which --token-reply does without")
	}
	v, err := f.conn.protocol()
	if err != nil {
		return nil, err
	}
	if v == mqttrpc.V311 && f.stream {
		return nil, usagef("--stream: MQTT 3.1.1 has no User Properties to carry a stream")
	}
	if v == mqttrpc.V311 && f.replyTopic == "" && f.tokenReply == "" {
		return nil, usagef("MQTT 3.1.1 has no Response Topic: name the reply topic with --token-reply PREFIX or --reply-topic TOPIC")
	}
	headers, err := parseHeaders(f.headers)
	if err != nil {
		return nil, err
	}
	timeout := f.timeout
	if f.replies != 1 && f.replyTimeout > 0 {
		timeout = f.replyTimeout
	}
	opts := []mqttrpc.RequestOption{mqttrpc.QoS(byte(f.qos)), mqttrpc.Timeout(timeout)}
	if f.stream { // a stream runs as long as its handler sends
		opts = []mqttrpc.RequestOption{mqttrpc.QoS(byte(f.qos)), mqttrpc.IdleTimeout(timeout)}
	}
	if f.replies > 1 {
		opts = append(opts, mqttrpc.MaxReplies(f.replies))
	}
	if v == mqttrpc.V311 {
		if len(headers) > 0 {
			fmt.Fprintln(s.stderr, "mqttrpc call: warning: MQTT 3.1.1 cannot carry headers: -H not sent")
		}
		if f.correlationID != "" {
			fmt.Fprintln(s.stderr, "mqttrpc call: warning: MQTT 3.1.1 cannot carry Correlation Data: --correlation-id not sent")
		}
		headers, f.correlationID = nil, ""
	}
	if len(headers) > 0 {
		opts = append(opts, mqttrpc.Headers(headers))
	}
	if f.correlationID != "" {
		opts = append(opts, mqttrpc.CorrelationID(f.correlationID))
	}
	if f.replyTopic != "" {
		opts = append(opts, mqttrpc.ReplyTo(f.replyTopic))
	}
	if f.tokenReply != "" {
		opts = append(opts, mqttrpc.TokenReply(f.tokenReply))
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

// callOnce sends one request and prints its reply. With -v it gathers the
// one reply instead, as Broker.Request returns an error reply as an error
// alone, and -v prints an error reply's topic and round trip too.
func (f *callFlags) callOnce(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts []mqttrpc.RequestOption, s streams) error {
	if f.verbose {
		return f.gather(ctx, b, topic, body, append(opts, mqttrpc.MaxReplies(1)), s)
	}
	reply, err := b.Request(ctx, topic, body, opts...)
	if err != nil {
		return err
	}
	return writeBody(s.stdout, reply.Body, reply.ContentType)
}

// gather sends one request and prints each reply as it comes, until
// --replies have come or the deadline passes. An error reply among several
// is reported on stderr as it comes; the command then exits 1 in the end.
func (f *callFlags) gather(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts []mqttrpc.RequestOption, s streams) error {
	start := time.Now()
	n := 0
	var remote error // the first error reply
	for reply, err := range b.Gather(ctx, topic, body, opts...) {
		if reply == nil {
			return err // not sent, or the Broker closed
		}
		n++
		if err != nil { // an error reply, which Gather yields bare
			err = &mqttrpc.OpError{Op: "request", Topic: topic, Err: err}
		}
		if f.verbose {
			writeReplyMeta(s.stderr, reply, time.Since(start))
		}
		switch {
		case err != nil && f.replies == 1:
			return err
		case err != nil:
			writeError(s.stderr, "call", err)
			if remote == nil {
				remote = reported{err}
			}
		default:
			if err := writeBody(s.stdout, reply.Body, reply.ContentType); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if n == 0 || (f.replies > 0 && n < f.replies) {
		return fewReplies{topic, n, f.replies, time.Since(start).Round(time.Millisecond)}
	}
	return remote
}

// readStream sends one streaming request and prints each response as it
// comes, in index order, until the handler ends the stream. The stream ends
// badly with an error status from the handler (exit 1), a response that
// does not come within --timeout of the one before (exit 3), or ctx's end
// (SIGINT, exit 130); in each case but the first the library has told the
// handler to stop.
func (f *callFlags) readStream(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts []mqttrpc.RequestOption, s streams) error {
	start := time.Now()
	for m, err := range b.Stream(ctx, topic, body, opts...) {
		if err != nil {
			return err
		}
		if f.verbose {
			fmt.Fprintf(s.stderr, "index: %d\n", m.StreamIndex())
			writeReplyMeta(s.stderr, m, time.Since(start))
		}
		if len(m.Body) == 0 { // one line a response, an empty one too
			if _, err := io.WriteString(s.stdout, "\n"); err != nil {
				return err
			}
			continue
		}
		if err := writeBody(s.stdout, m.Body, m.ContentType); err != nil {
			return err
		}
	}
	return nil
}

// fewReplies is a gathering that ended before --replies came, or with none:
// it exits as a timeout does.
type fewReplies struct {
	topic  string
	got    int
	want   int // 0: any
	waited time.Duration
}

func (e fewReplies) Error() string {
	if e.want <= 1 {
		return fmt.Sprintf("request %q: timed out: no reply within %v", e.topic, e.waited)
	}
	return fmt.Sprintf("request %q: timed out: %d of %d replies within %v", e.topic, e.got, e.want, e.waited)
}

func (e fewReplies) Is(target error) bool { return target == mqttrpc.ErrTimeout }

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
