package otelmqttrpc_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
	otelmqttrpc "github.com/mqttrpc/mqttrpc/otel"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup is an embedded broker, a Telemetry that exports to memory, and
// Brokers that it traces through their hook.
type setup struct {
	url    string
	tel    *otelmqttrpc.Telemetry
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	b      *mqttrpc.Broker // with the hook
}

func newSetup(t *testing.T, opts ...otelmqttrpc.Option) *setup {
	t.Helper()
	srv, err := embedded.Start()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	s := &setup{url: srv.URL(), spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(s.spans)) // exported as each span ends
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	s.tel, err = otelmqttrpc.New(append([]otelmqttrpc.Option{otelmqttrpc.WithTracerProvider(s.tp), otelmqttrpc.WithMeterProvider(mp)}, opts...)...)
	require.NoError(t, err)
	s.b = s.connect(t, mqttrpc.WithHook(s.tel))
	return s
}

// connect opens another Broker on the setup's server, closed at the end.
func (s *setup) connect(t *testing.T, opts ...mqttrpc.Option) *mqttrpc.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := mqttrpc.Connect(ctx, s.url, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
	return b
}

// span returns the one ended span named name.
func (s *setup) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	var names []string
	for _, sp := range s.spans.GetSpans() {
		names = append(names, sp.Name)
		if sp.Name == name {
			found = append(found, sp)
		}
	}
	require.Len(t, found, 1, "spans named %q among %q", name, names)
	return found[0]
}

// names returns the names of the spans ended so far.
func (s *setup) names() []string {
	var names []string
	for _, sp := range s.spans.GetSpans() {
		names = append(names, sp.Name)
	}
	return names
}

func attr(sp tracetest.SpanStub, key string) string {
	for _, kv := range sp.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// attrMap is a span's or a data point's attributes, by key.
func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// collect reads the metrics, by name, with the scope of each.
func (s *setup) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, otelmqttrpc.ScopeName, sm.Scope.Name)
		assert.Equal(t, otelmqttrpc.Version(), sm.Scope.Version)
		assert.Equal(t, semconv.SchemaURL, sm.Scope.SchemaURL)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// serverAttrs are server.address and server.port of the setup's server.
func (s *setup) serverAttrs(t *testing.T) map[string]any {
	u, err := url.Parse(s.url)
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	return map[string]any{"server.address": u.Hostname(), "server.port": int64(port)}
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestConventions checks one request, traced by the Brokers' hooks alone,
// against the OpenTelemetry messaging conventions (semantic-conventions
// docs/messaging/messaging-spans.md, "Send span (producer)" and "Process
// span", and messaging-metrics.md), attribute by attribute: each span and
// each data point has exactly the attributes listed, no more.
func TestConventions(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	server := s.connect(t, mqttrpc.WithHook(s.tel))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := server.Subscriber(ctx, "devices/{id}/reboot", mqttrpc.Typed(func(_ context.Context, in string) (string, error) {
		return "rebooting", nil
	}), mqttrpc.Shared("workers"))
	require.NoError(t, err)

	_, err = s.b.Request(ctx, "devices/42/reboot", "now!", mqttrpc.TopicTemplate("devices/{id}/reboot"), mqttrpc.CorrelationID("conv-1"))
	require.NoError(t, err)

	// Span name: "{messaging.operation.name} {destination}", the
	// destination being messaging.destination.template when there is one.
	send := s.span(t, "send devices/{id}/reboot")
	process := s.span(t, "process devices/{id}/reboot")

	// Span kind: PRODUCER for a send whose context is the creation
	// context, CONSUMER for process.
	assert.Equal(t, trace.SpanKindProducer, send.SpanKind)
	assert.Equal(t, trace.SpanKindConsumer, process.SpanKind)

	// Trace structure: the send span's context travels in traceparent and
	// is the process span's parent ("Message creation context as parent of
	// Process span", which these conventions let an instrumentation
	// choose) and its link ("SHOULD link to the message's creation
	// context").
	assert.False(t, send.Parent.IsValid(), "the caller had no span")
	assert.Equal(t, send.SpanContext.TraceID(), process.SpanContext.TraceID())
	assert.Equal(t, send.SpanContext.SpanID(), process.Parent.SpanID())
	assert.True(t, process.Parent.IsRemote())
	require.Len(t, process.Links, 1)
	assert.Equal(t, send.SpanContext.SpanID(), process.Links[0].SpanContext.SpanID())

	// Span status: unset on success, and no error.type.
	assert.Equal(t, codes.Unset, send.Status.Code)
	assert.Equal(t, codes.Unset, process.Status.Code)

	srv := s.serverAttrs(t)
	assert.Equal(t, merge(srv, map[string]any{
		"messaging.system":                  "mqtt",              // Required; no listed value for MQTT
		"messaging.operation.name":          "send",              // Required
		"messaging.operation.type":          "send",              // Conditionally Required: "SHOULD be set to send"
		"messaging.destination.name":        "devices/42/reboot", // Conditionally Required: a single message
		"messaging.destination.template":    "devices/{id}/reboot",
		"messaging.client.id":               s.b.ClientID(), // Recommended
		"messaging.message.conversation_id": "conv-1",       // Recommended: the Correlation Data
		"messaging.message.body.size":       int64(len("now!")),
		// server.address, server.port: Recommended. Left out: error.type
		// (no failure), messaging.batch.message_count (one message),
		// messaging.destination.partition.id, messaging.message.id and
		// network.peer.* (MQTT has no partitions, and no message id a
		// client sees), messaging.message.envelope.size (Opt-In).
	}), attrMap(send.Attributes))
	assert.Equal(t, merge(srv, map[string]any{
		"messaging.system":                  "mqtt",
		"messaging.operation.name":          "process",
		"messaging.operation.type":          "process",
		"messaging.destination.name":        "devices/42/reboot",
		"messaging.destination.template":    "devices/{id}/reboot", // the subscriber's pattern
		"messaging.consumer.group.name":     "workers",             // the shared subscription's group
		"messaging.client.id":               server.ClientID(),
		"messaging.message.conversation_id": "conv-1",
		"messaging.message.body.size":       int64(len("now!")),
	}), attrMap(process.Attributes))
	assert.NotEqual(t, s.b.ClientID(), server.ClientID())

	// Instrumentation scope: the module, its version, the conventions'
	// schema.
	for _, sp := range []tracetest.SpanStub{send, process} {
		assert.Equal(t, otelmqttrpc.ScopeName, sp.InstrumentationScope.Name)
		assert.NotEmpty(t, sp.InstrumentationScope.Version)
		assert.Equal(t, otelmqttrpc.Version(), sp.InstrumentationScope.Version)
		assert.Equal(t, semconv.SchemaURL, sp.InstrumentationScope.SchemaURL)
	}

	// Metrics: names, instruments, units, and attributes as
	// messaging-metrics.md lists them. messaging.destination.name only "if
	// and only if it is known to have low cardinality": never here, a topic
	// may carry a device id.
	metrics := s.collect(t)
	sendAttrs := merge(srv, map[string]any{
		"messaging.system":               "mqtt",
		"messaging.operation.name":       "send",
		"messaging.destination.template": "devices/{id}/reboot",
	})
	processAttrs := merge(srv, map[string]any{
		"messaging.system":               "mqtt",
		"messaging.operation.name":       "process",
		"messaging.destination.template": "devices/{id}/reboot",
		"messaging.consumer.group.name":  "workers",
	})
	for _, c := range []struct {
		name, unit string
		attrs      map[string]any
	}{
		{"messaging.client.operation.duration", "s", merge(sendAttrs, map[string]any{"messaging.operation.type": "send"})},
		{"messaging.client.sent.messages", "{message}", sendAttrs},
		{"messaging.process.duration", "s", processAttrs},
		{"messaging.client.consumed.messages", "{message}", processAttrs},
	} {
		m, ok := metrics[c.name]
		require.True(t, ok, "no metric %s", c.name)
		assert.Equal(t, c.unit, m.Unit, c.name)
		switch d := m.Data.(type) {
		case metricdata.Histogram[float64]:
			require.Len(t, d.DataPoints, 1, c.name)
			p := d.DataPoints[0]
			assert.Equal(t, uint64(1), p.Count, c.name)
			// The conventions' ExplicitBucketBoundaries advice, not the SDK's
			// default (0, 5, 10, 25, ... 10000), under which every call in
			// seconds falls in one bucket.
			assert.Equal(t, []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}, p.Bounds, c.name)
			assert.Len(t, p.BucketCounts, 15, c.name)
			assert.Equal(t, c.attrs, attrMap(p.Attributes.ToSlice()), c.name)
		case metricdata.Sum[int64]:
			require.Len(t, d.DataPoints, 1, c.name)
			assert.True(t, d.IsMonotonic, "%s is a Counter", c.name)
			assert.Equal(t, int64(1), d.DataPoints[0].Value, c.name)
			assert.Equal(t, c.attrs, attrMap(d.DataPoints[0].Attributes.ToSlice()), c.name)
		default:
			t.Errorf("%s: %T", c.name, m.Data)
		}
	}
	assert.Len(t, metrics, 4)
}

// TestEveryCall: with the hook alone, every kind of call is traced, named
// by its template or, without one, by the topic's first level; Discover
// names its own.
func TestEveryCall(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := make(chan string, 1)
	_, err := s.b.Subscriber(ctx, "devices/{id}/echo", mqttrpc.Typed(func(_ context.Context, in string) (string, error) { return in, nil }))
	require.NoError(t, err)
	_, err = s.b.Subscriber(ctx, "events/{kind}", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		events <- string(m.Body)
		return nil, nil
	}))
	require.NoError(t, err)
	_, err = s.b.Service(ctx, mqttrpc.ServiceConfig{Name: "fleet", Version: "1.0.0"})
	require.NoError(t, err)

	_, err = s.b.Request(ctx, "devices/1/echo", "a")
	require.NoError(t, err)
	_, err = mqttrpc.Call[string](ctx, s.b, "devices/2/echo", "b", mqttrpc.TopicTemplate("devices/{id}/echo"))
	require.NoError(t, err)
	for _, err := range s.b.Gather(ctx, "devices/3/echo", "c", mqttrpc.MaxReplies(1)) {
		require.NoError(t, err)
	}
	for _, err := range mqttrpc.Discover[mqttrpc.ServicePing](ctx, s.b, "fleet", "", mqttrpc.MaxReplies(1)) {
		require.NoError(t, err)
	}
	require.NoError(t, s.b.Publish(ctx, "events/boot", "d", mqttrpc.TopicTemplate("events/{kind}")))
	assert.Equal(t, "d", <-events)

	// The event's process span ends once its handler returns, which may be
	// after Publish has.
	require.Eventually(t, func() bool { return len(s.spans.GetSpans()) >= 9 }, 5*time.Second, time.Millisecond)
	assert.Len(t, s.spans.GetSpans(), 0+
		2+ // Request: send devices/#, process devices/{id}/echo
		2+ // Call
		2+ // Gather
		1+ // Discover: discovery's own subscribers are not traced
		2, // Publish
		"%q", s.names())
	request := s.spans.GetSpans()[1]
	assert.Equal(t, "send devices/#", request.Name, "no template: the first level")
	assert.Equal(t, "devices/#", attr(request, "messaging.destination.template"))
	assert.Equal(t, "devices/1/echo", attr(request, "messaging.destination.name"))
	for _, sp := range s.spans.GetSpans()[2:4] {
		assert.Contains(t, []string{"send devices/{id}/echo", "process devices/{id}/echo"}, sp.Name)
	}
	gather := s.spans.GetSpans()[5]
	assert.Equal(t, "send devices/#", gather.Name)
	assert.Equal(t, "1", attr(gather, "mqttrpc.gather.replies"))
	discover := s.span(t, "send mqttrpc/srv/PING/{name}")
	assert.Equal(t, "mqttrpc/srv/PING/fleet", attr(discover, "messaging.destination.name"))
	assert.NotEqual(t, "0", attr(discover, "messaging.message.body.size"), "the reply_to body, filled in after the start")
	publish := s.span(t, "publish events/{kind}")
	assert.Equal(t, trace.SpanKindProducer, publish.SpanKind)
	assert.Equal(t, "publish", attr(publish, "messaging.operation.name"))
	assert.Equal(t, "send", attr(publish, "messaging.operation.type"))
	assert.Equal(t, publish.SpanContext.SpanID(), s.span(t, "process events/{kind}").Parent.SpanID())
}

// TestTopicLevels: WithTopicLevels sets how much of a topic without a
// template names a call.
func TestTopicLevels(t *testing.T) {
	t.Parallel()
	for levels, want := range map[int]string{0: "send devices/9/none", 1: "send devices/#", 2: "send devices/9/#", 3: "send devices/9/none", 4: "send devices/9/none"} {
		t.Run(strconv.Itoa(levels), func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, otelmqttrpc.WithTopicLevels(levels))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := s.b.Request(ctx, "devices/9/none", nil, mqttrpc.Timeout(50*time.Millisecond))
			require.Error(t, err)
			s.span(t, want)
		})
	}
}

// TestOneTrace: caller → handler → a nested call from inside the handler →
// its handler → replies, all one trace, each span the child of the one
// before, with the caller's tracestate carried along: plain mqttrpc calls,
// traced by the hook.
func TestOneTrace(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := s.b.Subscriber(ctx, "inventory/{item}/count", mqttrpc.Typed(func(context.Context, string) (int, error) {
		return 7, nil
	}))
	require.NoError(t, err)
	_, err = s.b.Subscriber(ctx, "orders/{id}/check", mqttrpc.Typed(func(ctx context.Context, item string) (string, error) {
		n, err := mqttrpc.Call[int](ctx, s.b, "inventory/"+item+"/count", nil, mqttrpc.TopicTemplate("inventory/{item}/count"))
		if err != nil {
			return "", err
		}
		if n == 0 {
			return "out of stock", nil
		}
		return "in stock", nil
	}))
	require.NoError(t, err)

	ctx, root := startRoot(ctx, s.tp)
	got, err := mqttrpc.Call[string](ctx, s.b, "orders/42/check", "widget", mqttrpc.Headers(map[string]string{"user": "ann"}), mqttrpc.TopicTemplate("orders/{id}/check"))
	require.NoError(t, err)
	assert.Equal(t, "in stock", got)
	root.End()

	checkChain(t, s, root, "orders/{id}/check", "inventory/{item}/count")
}

// startRoot starts a span under a remote parent with a tracestate.
func startRoot(ctx context.Context, tp trace.TracerProvider) (context.Context, trace.Span) {
	state, err := trace.ParseTraceState("vendor=abc")
	if err != nil {
		panic(err)
	}
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, TraceState: state, Remote: true,
	}))
	return tp.Tracer("test").Start(ctx, "test")
}

// checkChain checks the four spans of a call to outer whose handler calls
// inner, each the child of the one before.
func checkChain(t *testing.T, s *setup, root trace.Span, outer, inner string) {
	t.Helper()
	sendOrder := s.span(t, "send "+outer)
	processOrder := s.span(t, "process orders/{id}/check")
	sendCount := s.span(t, "send "+inner)
	processCount := s.span(t, "process inventory/{item}/count")
	for _, c := range []struct {
		span   tracetest.SpanStub
		parent trace.SpanContext
		kind   trace.SpanKind
	}{
		{sendOrder, root.SpanContext(), trace.SpanKindProducer},
		{processOrder, sendOrder.SpanContext, trace.SpanKindConsumer},
		{sendCount, processOrder.SpanContext, trace.SpanKindProducer},
		{processCount, sendCount.SpanContext, trace.SpanKindConsumer},
	} {
		assert.Equal(t, trace.TraceID{1, 2, 3}, c.span.SpanContext.TraceID(), c.span.Name)
		assert.Equal(t, c.parent.SpanID(), c.span.Parent.SpanID(), "%s: parent", c.span.Name)
		assert.Equal(t, c.kind, c.span.SpanKind, c.span.Name)
		assert.Equal(t, "vendor=abc", c.span.SpanContext.TraceState().String(), "%s: tracestate", c.span.Name)
		assert.Equal(t, "mqtt", attr(c.span, "messaging.system"))
		assert.Equal(t, codes.Unset, c.span.Status.Code)
	}
	assert.True(t, processOrder.Parent.IsRemote(), "the parent came over MQTT")
	assert.Equal(t, "orders/42/check", attr(processOrder, "messaging.destination.name"))
	assert.Equal(t, "6", attr(processOrder, "messaging.message.body.size"), "widget, as text")
	assert.NotEmpty(t, attr(processOrder, "messaging.message.conversation_id"))
	assert.Len(t, s.spans.GetSpans(), 5, "%q: none twice", s.names())

	counts := map[string]int64{}
	for name, m := range s.collect(t) {
		switch d := m.Data.(type) {
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				counts[name] += int64(p.Count)
			}
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				counts[name] += p.Value
			}
		}
	}
	assert.Equal(t, map[string]int64{
		"messaging.client.operation.duration": 2,
		"messaging.client.sent.messages":      2,
		"messaging.process.duration":          2,
		"messaging.client.consumed.messages":  2,
	}, counts)
}

// TestWrappers: the wrappers from before the hook still trace one trace
// through a Broker that has only the middleware; where the Broker has the
// hook too, nothing is traced twice.
func TestWrappers(t *testing.T) {
	t.Parallel()
	for _, hooked := range []bool{false, true} {
		t.Run(fmt.Sprintf("hook=%v", hooked), func(t *testing.T) {
			t.Parallel()
			s := newSetup(t)
			opts := []mqttrpc.Option{mqttrpc.WithMiddleware(s.tel.Middleware)}
			if hooked {
				opts = append(opts, mqttrpc.WithHook(s.tel))
			}
			b := s.connect(t, opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := b.Subscriber(ctx, "inventory/{item}/count", mqttrpc.Typed(func(context.Context, string) (int, error) {
				return 7, nil
			}))
			require.NoError(t, err)
			_, err = b.Subscriber(ctx, "orders/{id}/check", mqttrpc.Typed(func(ctx context.Context, item string) (string, error) {
				n, err := otelmqttrpc.Call[int](ctx, s.tel, b, "inventory/"+item+"/count", nil)
				if err != nil {
					return "", err
				}
				return strconv.Itoa(n) + " in stock", nil
			}))
			require.NoError(t, err)
			ctx, root := startRoot(ctx, s.tp)
			got, err := otelmqttrpc.Call[string](ctx, s.tel, b, "orders/42/check", "widget")
			require.NoError(t, err)
			assert.Equal(t, "7 in stock", got)
			root.End()
			checkChain(t, s, root, "orders/#", "inventory/#")
			assert.Equal(t, "orders/42/check", attr(s.span(t, "send orders/#"), "messaging.destination.name"))
		})
	}
}

// TestErrors: an error reply marks both spans as failed, with the status
// code as error.type; a panic does so with 500; a timeout with "timeout".
// The metrics carry error.type too.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.b.Subscriber(ctx, "busy", mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
		return nil, mqttrpc.Errorf(409, "busy")
	}))
	require.NoError(t, err)
	_, err = s.b.Subscriber(ctx, "crash", mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
		panic("boom")
	}))
	require.NoError(t, err)

	_, err = s.b.Request(ctx, "busy", nil)
	require.Error(t, err)
	for _, name := range []string{"send busy", "process busy"} {
		sp := s.span(t, name)
		assert.Equal(t, codes.Error, sp.Status.Code, name)
		assert.Equal(t, "409", attr(sp, "error.type"), name)
	}
	_, err = s.b.Request(ctx, "crash", nil)
	require.Error(t, err)
	assert.Equal(t, "500", attr(s.span(t, "process crash"), "error.type"))
	assert.Equal(t, "500", attr(s.span(t, "send crash"), "error.type"))

	_, err = s.b.Request(ctx, "nobody/home", nil, mqttrpc.Timeout(200*time.Millisecond))
	require.ErrorIs(t, err, mqttrpc.ErrTimeout)
	assert.Equal(t, "timeout", attr(s.span(t, "send nobody/#"), "error.type"))

	errorTypes := map[string][]string{}
	for name, m := range s.collect(t) {
		switch d := m.Data.(type) {
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				v, _ := p.Attributes.Value("error.type")
				errorTypes[name] = append(errorTypes[name], v.AsString())
			}
		}
	}
	assert.ElementsMatch(t, []string{"409", "500", "timeout"}, errorTypes["messaging.client.operation.duration"])
	assert.ElementsMatch(t, []string{"409", "500"}, errorTypes["messaging.process.duration"])
}

func TestErrorType(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		mqttrpc.Errorf(404, "x"):  "404",
		mqttrpc.ErrTimeout:        "timeout",
		mqttrpc.ErrNoResponders:   "no_responders",
		mqttrpc.ErrClosed:         "closed",
		mqttrpc.ErrDisconnected:   "disconnected",
		context.Canceled:          "canceled",
		assert.AnError:            "_OTHER",
		context.DeadlineExceeded:  "timeout",
		mqttrpc.ErrInvalidTopic:   "_OTHER",
		mqttrpc.ErrRefused:        "_OTHER",
		mqttrpc.ErrInvalidService: "_OTHER",
	} {
		assert.Equal(t, want, otelmqttrpc.ErrorType(err), "%v", err)
	}
}

// TestGather: one send span for the whole gather, the parent of every
// responder's process span.
func TestGather(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other := s.connect(t, mqttrpc.WithHook(s.tel))
	for _, b := range []*mqttrpc.Broker{s.b, other} {
		_, err := b.Subscriber(ctx, "site/{n}/online", mqttrpc.Typed(func(context.Context, []byte) (string, error) { return "yes", nil }))
		require.NoError(t, err)
	}
	n := 0
	for _, err := range s.b.Gather(ctx, "site/7/online", nil, mqttrpc.MaxReplies(2), mqttrpc.TopicTemplate("site/{n}/online")) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 2, n)
	send := s.span(t, "send site/{n}/online")
	assert.Equal(t, "2", attr(send, "mqttrpc.gather.replies"))
	var children int
	for _, sp := range s.spans.GetSpans() {
		if sp.Name == "process site/{n}/online" {
			assert.Equal(t, send.SpanContext.SpanID(), sp.Parent.SpanID())
			children++
		}
	}
	assert.Equal(t, 2, children)
}

// TestStream: a Stream is one send span with an event per response, in
// index order, and its handler one process span under it.
func TestStream(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.b.Subscriber(ctx, "jobs/{id}/progress", mqttrpc.TypedStream(func(_ context.Context, _ string, send func(int) error) error {
		for p := 0; p <= 100; p += 50 {
			if err := send(p); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, err)
	var got []int
	for p, err := range mqttrpc.CallStream[int](ctx, s.b, "jobs/7/progress", "go", mqttrpc.TopicTemplate("jobs/{id}/progress")) {
		require.NoError(t, err)
		got = append(got, p)
	}
	assert.Equal(t, []int{0, 50, 100}, got)

	require.Eventually(t, func() bool { return len(s.spans.GetSpans()) >= 2 }, 5*time.Second, time.Millisecond)
	send := s.span(t, "send jobs/{id}/progress")
	assert.Equal(t, "3", attr(send, "mqttrpc.stream.responses"))
	require.Len(t, send.Events, 3)
	for i, ev := range send.Events {
		assert.Equal(t, "response", ev.Name)
		assert.Equal(t, map[string]any{"mqttrpc.stream.index": int64(i)}, attrMap(ev.Attributes))
	}
	process := s.span(t, "process jobs/{id}/progress")
	assert.Equal(t, send.SpanContext.SpanID(), process.Parent.SpanID())
}
