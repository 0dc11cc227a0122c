package otelmqttrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
	otelmqttrpc "github.com/mqttrpc/mqttrpc/otel"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup is an embedded broker, a Broker traced by a Telemetry that records
// to memory, and the recorders.
type setup struct {
	url    string
	b      *mqttrpc.Broker
	tel    *otelmqttrpc.Telemetry
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	srv, err := embedded.Start()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	s := &setup{url: srv.URL(), spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	s.tel, err = otelmqttrpc.New(otelmqttrpc.WithTracerProvider(s.tp), otelmqttrpc.WithMeterProvider(mp))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.b, err = mqttrpc.Connect(ctx, srv.URL(), mqttrpc.WithMiddleware(s.tel.Middleware))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.b.Close(ctx))
	})
	return s
}

func (s *setup) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name {
			return sp
		}
	}
	t.Fatalf("no span %q among %d", name, len(s.spans.Ended()))
	return nil
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestOneTrace: caller → handler → a nested call from inside the handler →
// its handler → replies, all one trace, each span the child of the one
// before, with the caller's tracestate carried along.
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
		n, err := otelmqttrpc.Call[int](ctx, s.tel, s.b, "inventory/"+item+"/count", nil)
		if err != nil {
			return "", err
		}
		if n == 0 {
			return "out of stock", nil
		}
		return "in stock", nil
	}))
	require.NoError(t, err)

	state, err := trace.ParseTraceState("vendor=abc")
	require.NoError(t, err)
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, TraceState: state, Remote: true,
	}))
	ctx, root := s.tp.Tracer("test").Start(ctx, "test")
	got, err := otelmqttrpc.Call[string](ctx, s.tel, s.b, "orders/42/check", "widget", mqttrpc.Headers(map[string]string{"user": "ann"}))
	require.NoError(t, err)
	assert.Equal(t, "in stock", got)
	root.End()

	sendOrder := s.span(t, "send orders/42/check")
	processOrder := s.span(t, "process orders/{id}/check")
	sendCount := s.span(t, "send inventory/widget/count")
	processCount := s.span(t, "process inventory/{item}/count")
	for _, c := range []struct {
		span   sdktrace.ReadOnlySpan
		parent trace.SpanContext
		kind   trace.SpanKind
	}{
		{sendOrder, root.SpanContext(), trace.SpanKindProducer},
		{processOrder, sendOrder.SpanContext(), trace.SpanKindConsumer},
		{sendCount, processOrder.SpanContext(), trace.SpanKindProducer},
		{processCount, sendCount.SpanContext(), trace.SpanKindConsumer},
	} {
		assert.Equal(t, trace.TraceID{1, 2, 3}, c.span.SpanContext().TraceID(), c.span.Name())
		assert.Equal(t, c.parent.SpanID(), c.span.Parent().SpanID(), "%s: parent", c.span.Name())
		assert.Equal(t, c.kind, c.span.SpanKind(), c.span.Name())
		assert.Equal(t, "vendor=abc", c.span.SpanContext().TraceState().String(), "%s: tracestate", c.span.Name())
		assert.Equal(t, "mqtt", attr(c.span, "messaging.system"))
		assert.Equal(t, codes.Unset, c.span.Status().Code)
	}
	assert.True(t, processOrder.Parent().IsRemote(), "the parent came over MQTT")
	assert.Equal(t, "process", attr(processOrder, "messaging.operation.type"))
	assert.Equal(t, "orders/{id}/check", attr(processOrder, "messaging.destination.template"))
	assert.Equal(t, "orders/42/check", attr(processOrder, "messaging.destination.name"))
	assert.Equal(t, "6", attr(processOrder, "messaging.message.body.size"), "widget, as text")
	assert.NotEmpty(t, attr(processOrder, "messaging.message.conversation_id"))
	assert.Equal(t, "send", attr(sendOrder, "messaging.operation.type"))

	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(ctx, &rm))
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					counts[m.Name] += p.Count
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					counts[m.Name] += uint64(p.Value)
				}
			}
		}
	}
	assert.Equal(t, map[string]uint64{
		"messaging.client.operation.duration": 2,
		"messaging.client.sent.messages":      2,
		"messaging.process.duration":          2,
		"messaging.client.consumed.messages":  2,
	}, counts)
}

// TestErrors: an error reply marks both spans as failed, with the status
// code as error.type; a panic does so with 500.
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

	_, err = s.tel.Request(ctx, s.b, "busy", nil)
	require.Error(t, err)
	for _, name := range []string{"send busy", "process busy"} {
		sp := s.span(t, name)
		assert.Equal(t, codes.Error, sp.Status().Code, name)
		assert.Equal(t, "409", attr(sp, "error.type"), name)
	}
	_, err = s.tel.Request(ctx, s.b, "crash", nil)
	require.Error(t, err)
	assert.Equal(t, "500", attr(s.span(t, "process crash"), "error.type"))
	assert.Equal(t, "500", attr(s.span(t, "send crash"), "error.type"))

	_, err = s.tel.Request(ctx, s.b, "nobody/home", nil, mqttrpc.Timeout(200*time.Millisecond))
	require.ErrorIs(t, err, mqttrpc.ErrTimeout)
	assert.Equal(t, "timeout", attr(s.span(t, "send nobody/home"), "error.type"))
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
	other, err := mqttrpc.Connect(ctx, s.url, mqttrpc.WithMiddleware(s.tel.Middleware))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, other.Close(context.Background())) })
	for _, b := range []*mqttrpc.Broker{s.b, other} {
		_, err := b.Subscriber(ctx, "site/7/online", mqttrpc.Typed(func(context.Context, []byte) (string, error) { return "yes", nil }))
		require.NoError(t, err)
	}
	n := 0
	for _, err := range s.tel.Gather(ctx, s.b, "site/7/online", nil, mqttrpc.MaxReplies(2)) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 2, n)
	send := s.span(t, "send site/7/online")
	assert.Equal(t, "2", attr(send, "mqttrpc.gather.replies"))
	var children int
	for _, sp := range s.spans.Ended() {
		if sp.Name() == "process site/7/online" {
			assert.Equal(t, send.SpanContext().SpanID(), sp.Parent().SpanID())
			children++
		}
	}
	assert.Equal(t, 2, children)
}
