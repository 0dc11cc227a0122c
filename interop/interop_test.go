package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// Bounds that keep a lost message from hanging the suite: every foreign
// process is started with a context of caseTimeout and told clientTimeout,
// so it gives up, and says why, before it is killed.
const (
	caseTimeout    = 15 * time.Second
	clientTimeout  = 10 * time.Second
	requestTimeout = 8 * time.Second
)

// wireMsg is an MQTT message as a foreign client sends or received it. Its
// JSON form is what the MQTT.js and paho scripts read and print: []byte
// fields are base64, and a nil CorrelationData is JSON null, i.e. absent.
type wireMsg struct {
	Topic           string            `json:"topic"`
	Body            []byte            `json:"body"`
	ResponseTopic   string            `json:"responseTopic"`
	CorrelationData []byte            `json:"correlationData"`
	ContentType     string            `json:"contentType"`
	UserProperties  map[string]string `json:"userProperties"`
}

// callSpec is a request a foreign client sends to an mqttrpc handler.
type callSpec struct {
	Version mqttrpc.Version
	Topic   string
	// ReplyTopic is where the reply is awaited: sent as the Response Topic
	// on MQTT 5; on MQTT 3.1.1 the handler's ReplyTopic option names it.
	ReplyTopic string
	Msg        wireMsg // Body, CorrelationData, ContentType, UserProperties
}

// respondSpec is how a foreign client answers one mqttrpc request.
type respondSpec struct {
	Version mqttrpc.Version
	Topic   string // subscribed to for the request
	// ReplyTopic is where the reply goes on MQTT 3.1.1, which has no
	// Response Topic; on MQTT 5 the reply goes to the request's.
	ReplyTopic      string
	Reply           wireMsg // Body, ContentType, UserProperties
	EchoCorrelation bool    // copy the request's Correlation Data into the reply
}

// foreignClient is a third-party MQTT client the tests drive.
type foreignClient interface {
	// call sends the request and returns the first message on c.ReplyTopic.
	call(ctx context.Context, b *brokertest.Broker, c callSpec) (*wireMsg, error)
	// respond starts a responder and returns once it is subscribed, so that a
	// request sent afterwards reaches it.
	respond(ctx context.Context, b *brokertest.Broker, r respondSpec) (responder, error)
	// binaryID is a Correlation Data that is not UTF-8 and that this client
	// can send and echo: only where the client reads bytes from a file or
	// pipe rather than from argv can it hold a NUL.
	binaryID() []byte
}

// responder is a foreign client answering one request.
type responder interface {
	// wait returns the request as the responder received it, once it has
	// published its reply and exited.
	wait() (*wireMsg, error)
}

// missing skips the test when a foreign client is not installed, except in
// CI, where the interop suite exists to prove interop and must not pass by
// skipping everything.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (required in CI; see interop/README.md)", msg)
	}
	t.Skip(msg)
}

// runMatrix runs every case with the foreign client against every broker,
// and the extra ones.
func runMatrix(t *testing.T, fc foreignClient, extra ...*brokertest.Broker) {
	for _, b := range append(brokertest.All(t), extra...) {
		t.Run(b.Name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
					defer cancel()
					tc.run(ctx, t, fc, b)
				})
			}
		})
	}
}

type interopCase struct {
	name string
	run  func(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker)
}

// cases is the matrix row for one client and one broker; README.md lists it.
var cases = []interopCase{
	{"v5/caller/ok", callerV5OK},
	{"v5/caller/error", callerV5Error},
	{"v311/caller/ok", callerV311OK},
	{"v5/responder/ok", responderV5OK},
	{"v5/responder/error", responderV5Error},
	{"v5/responder/no-correlation", responderV5NoCorrelation},
	{"v5/responder/wrong-correlation", responderV5WrongCorrelation},
	{"v311/responder/ok", responderV311OK},
}

// connect opens an mqttrpc Broker that the test closes when it ends.
func connect(ctx context.Context, t *testing.T, b *brokertest.Broker, v mqttrpc.Version) *mqttrpc.Broker {
	t.Helper()
	rpc, err := mqttrpc.Connect(ctx, b.URL, mqttrpc.WithVersion(v), mqttrpc.WithRequestTimeout(requestTimeout))
	if err != nil {
		t.Fatalf("connect %s: %v", b.URL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rpc.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rpc
}

// recordingHandler passes each request to the test and answers with reply.
func recordingHandler(reply func(*mqttrpc.Message) (*mqttrpc.Response, error)) (mqttrpc.Handler, <-chan *mqttrpc.Message) {
	got := make(chan *mqttrpc.Message, 1)
	return mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		select {
		case got <- m:
		default: // a second request is a bug the first one's checks report
		}
		return reply(m)
	}), got
}

// received waits for the request the handler saw.
func received(ctx context.Context, t *testing.T, got <-chan *mqttrpc.Message) *mqttrpc.Message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-ctx.Done():
		t.Fatal("the mqttrpc handler received no request")
		return nil
	}
}

// subscribe registers h and fails the test if it cannot.
func subscribe(t *testing.T, rpc *mqttrpc.Broker, filter string, h mqttrpc.Handler, opts ...mqttrpc.SubscribeOption) {
	t.Helper()
	if _, err := rpc.Subscriber(context.Background(), filter, h, opts...); err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
}

// callerV5OK: the foreign client calls a handler on MQTT 5 with every
// property set, and the handler's reply keeps the Correlation Data.
func callerV5OK(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic, replyTopic = "interop/v5-caller-ok/req", "interop/v5-caller-ok/reply"
	rpc := connect(ctx, t, b, mqttrpc.V5)
	h, got := recordingHandler(func(m *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{
			Body:    "pong:" + string(m.Body), // a string goes as text/plain
			Headers: map[string]string{"reply-prop": "reply-value"},
		}, nil
	})
	subscribe(t, rpc, topic, h)

	id := fc.binaryID()
	reply, err := fc.call(ctx, b, callSpec{
		Version: mqttrpc.V5, Topic: topic, ReplyTopic: replyTopic,
		Msg: wireMsg{
			Body:            []byte("ping"),
			CorrelationData: id,
			ContentType:     "text/x-interop",
			UserProperties:  map[string]string{"req-prop": "req-value", "trace": "t-1"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	m := received(ctx, t, got)
	checkEqual(t, "handler: body", string(m.Body), "ping")
	checkEqual(t, "handler: ReplyTo", m.ReplyTo, replyTopic)
	checkBytes(t, "handler: CorrelationID", []byte(m.CorrelationID), id)
	checkEqual(t, "handler: ContentType", m.ContentType, "text/x-interop")
	checkEqual(t, "handler: header req-prop", m.Header("req-prop"), "req-value")
	checkEqual(t, "handler: header trace", m.Header("trace"), "t-1")

	checkEqual(t, "reply: topic", reply.Topic, replyTopic)
	checkEqual(t, "reply: body", string(reply.Body), "pong:ping")
	checkBytes(t, "reply: correlation data", reply.CorrelationData, id)
	checkEqual(t, "reply: content type", reply.ContentType, "text/plain")
	checkEqual(t, "reply: user property reply-prop", reply.UserProperties["reply-prop"], "reply-value")
}

// callerV5Error: a failing handler's error reaches the foreign client as an
// empty reply with __stat and __stMsg, correlated like any reply.
func callerV5Error(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic, replyTopic = "interop/v5-caller-error/req", "interop/v5-caller-error/reply"
	const failure = "handler failed on purpose"
	rpc := connect(ctx, t, b, mqttrpc.V5)
	h, got := recordingHandler(func(*mqttrpc.Message) (*mqttrpc.Response, error) {
		return nil, mqttrpc.Errorf(500, "%s", failure)
	})
	subscribe(t, rpc, topic, h)

	reply, err := fc.call(ctx, b, callSpec{
		Version: mqttrpc.V5, Topic: topic, ReplyTopic: replyTopic,
		Msg: wireMsg{Body: []byte("ping"), CorrelationData: []byte("err-1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	received(ctx, t, got)

	checkEqual(t, "reply: body", string(reply.Body), "")
	checkEqual(t, "reply: content type", reply.ContentType, "")
	checkBytes(t, "reply: correlation data", reply.CorrelationData, []byte("err-1"))
	checkEqual(t, "reply: __stat", reply.UserProperties["__stat"], "500")
	checkEqual(t, "reply: __stMsg", reply.UserProperties["__stMsg"], failure)
}

// callerV311OK: on MQTT 3.1.1 the handler replies to its configured
// ReplyTopic, where the foreign client waits.
func callerV311OK(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic, replyTopic = "interop/v311-caller-ok/req", "interop/v311-caller-ok/reply"
	rpc := connect(ctx, t, b, mqttrpc.V311)
	h, got := recordingHandler(func(m *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{Body: "pong:" + string(m.Body)}, nil
	})
	subscribe(t, rpc, topic, h, mqttrpc.ReplyTopic(replyTopic))

	reply, err := fc.call(ctx, b, callSpec{
		Version: mqttrpc.V311, Topic: topic, ReplyTopic: replyTopic,
		Msg: wireMsg{Body: []byte("ping")},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := received(ctx, t, got)
	checkEqual(t, "handler: body", string(m.Body), "ping")
	checkEqual(t, "reply: topic", reply.Topic, replyTopic)
	checkEqual(t, "reply: body", string(reply.Body), "pong:ping")
}

// responderV5OK: an mqttrpc Request with every property set is answered by
// a foreign client that echoes the Correlation Data, binary bytes included.
func responderV5OK(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic = "interop/v5-responder-ok/req"
	rpc := connect(ctx, t, b, mqttrpc.V5)
	r, err := fc.respond(ctx, b, respondSpec{
		Version: mqttrpc.V5, Topic: topic, EchoCorrelation: true,
		Reply: wireMsg{
			Body:           []byte("pong"),
			ContentType:    "text/x-reply",
			UserProperties: map[string]string{"reply-prop": "reply-value"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := fc.binaryID()
	reply, err := rpc.Request(ctx, topic, "ping",
		mqttrpc.CorrelationID(string(id)),
		mqttrpc.Headers(map[string]string{"req-prop": "req-value"}))
	req, werr := r.wait()
	if werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("Request: %v", err)
	}

	checkEqual(t, "request: body", string(req.Body), "ping")
	checkEqual(t, "request: content type", req.ContentType, "text/plain")
	checkBytes(t, "request: correlation data", req.CorrelationData, id)
	checkEqual(t, "request: user property req-prop", req.UserProperties["req-prop"], "req-value")
	if !strings.HasPrefix(req.ResponseTopic, "mqttrpc/inbox/") {
		t.Errorf("request: response topic = %q, want the mqttrpc inbox", req.ResponseTopic)
	}

	checkEqual(t, "reply: body", string(reply.Body), "pong")
	checkEqual(t, "reply: ContentType", reply.ContentType, "text/x-reply")
	checkEqual(t, "reply: header reply-prop", reply.Header("reply-prop"), "reply-value")
	checkBytes(t, "reply: CorrelationID", []byte(reply.CorrelationID), id)
}

// responderV5Error: a foreign responder reporting __stat 404 makes Request
// return a *RemoteError with that code and message. The JSON body also shows
// that the foreign client sees the application/json content type.
func responderV5Error(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic = "interop/v5-responder-error/req"
	rpc := connect(ctx, t, b, mqttrpc.V5)
	r, err := fc.respond(ctx, b, respondSpec{
		Version: mqttrpc.V5, Topic: topic, EchoCorrelation: true,
		Reply: wireMsg{UserProperties: map[string]string{"__stat": "404", "__stMsg": "no such thing"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rpc.Request(ctx, topic, map[string]int{"n": 1})
	req, werr := r.wait()
	if werr != nil {
		t.Fatal(werr)
	}

	var re *mqttrpc.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("Request: err = %v, want a *RemoteError", err)
	}
	checkEqual(t, "RemoteError.Code", fmt.Sprint(re.Code), "404")
	checkEqual(t, "RemoteError.Message", re.Message, "no such thing")
	checkEqual(t, "request: body", string(req.Body), `{"n":1}`)
	checkEqual(t, "request: content type", req.ContentType, "application/json")
}

// responderV5NoCorrelation: a foreign responder that does not echo the
// Correlation Data is still matched, by the private reply topic alone. The
// []byte body also shows that no content type is sent for raw bytes.
func responderV5NoCorrelation(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic = "interop/v5-responder-nocorr/req"
	rpc := connect(ctx, t, b, mqttrpc.V5)
	r, err := fc.respond(ctx, b, respondSpec{
		Version: mqttrpc.V5, Topic: topic, EchoCorrelation: false,
		Reply: wireMsg{Body: []byte("pong")},
	})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := rpc.Request(ctx, topic, []byte("ping"))
	req, werr := r.wait()
	if werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	// The default Correlation Data is a UUID; seeing it proves that the
	// reply was matched without it.
	if _, err := uuid.ParseBytes(req.CorrelationData); err != nil {
		t.Errorf("request: correlation data %q is not a UUID: %v", req.CorrelationData, err)
	}
	checkEqual(t, "request: content type", req.ContentType, "")
	checkEqual(t, "request: body", string(req.Body), "ping")
	checkEqual(t, "reply: body", string(reply.Body), "pong")
	checkEqual(t, "reply: CorrelationID", reply.CorrelationID, "")
}

// responderV5WrongCorrelation: a reply carrying some other Correlation Data
// is not taken for the answer, even on the request's own reply topic: the
// request times out and the Broker counts the reply as dropped.
func responderV5WrongCorrelation(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic = "interop/v5-responder-wrongcorr/req"
	rpc := connect(ctx, t, b, mqttrpc.V5)
	r, err := fc.respond(ctx, b, respondSpec{
		Version: mqttrpc.V5, Topic: topic, EchoCorrelation: false,
		Reply: wireMsg{Body: []byte("not yours"), CorrelationData: []byte("someone-else")},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Short, since the timeout is the expected outcome; the responder has
	// replied well before it, as its wait below shows.
	_, err = rpc.Request(ctx, topic, "ping", mqttrpc.Timeout(time.Second))
	if _, werr := r.wait(); werr != nil {
		t.Fatal(werr)
	}
	if !errors.Is(err, mqttrpc.ErrTimeout) {
		t.Fatalf("Request: err = %v, want ErrTimeout", err)
	}
	if n := rpc.Stats().DroppedReplies; n != 1 {
		t.Errorf("Stats().DroppedReplies = %d, want 1", n)
	}
}

// responderV311OK: on MQTT 3.1.1 Request waits on its ReplyTo topic, where
// the foreign responder, told it out of band, replies.
func responderV311OK(ctx context.Context, t *testing.T, fc foreignClient, b *brokertest.Broker) {
	const topic, replyTopic = "interop/v311-responder-ok/req", "interop/v311-responder-ok/reply"
	rpc := connect(ctx, t, b, mqttrpc.V311)
	r, err := fc.respond(ctx, b, respondSpec{
		Version: mqttrpc.V311, Topic: topic, ReplyTopic: replyTopic,
		Reply: wireMsg{Body: []byte("pong")},
	})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := rpc.Request(ctx, topic, "ping", mqttrpc.ReplyTo(replyTopic))
	req, werr := r.wait()
	if werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	checkEqual(t, "request: body", string(req.Body), "ping")
	checkEqual(t, "request: response topic", req.ResponseTopic, "") // none on 3.1.1
	checkEqual(t, "reply: body", string(reply.Body), "pong")
}

func checkEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// runOutput runs cmd to completion and returns its stdout, with its stderr
// in the error so that a failing client says why.
func runOutput(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second // do not wait on pipes a killed child's children hold
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w\nstdout: %s\nstderr: %s", cmd.Args[0], err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// mustJSON is for configs built from plain values, which always encode.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
