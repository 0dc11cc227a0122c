// Package otelmqttrpc traces and measures mqttrpc calls and handlers with
// OpenTelemetry, in a module of its own so that mqttrpc itself never depends
// on OpenTelemetry.
//
// A [Telemetry] is an [mqttrpc.Hook]: give it to [mqttrpc.WithHook] and every
// call of the Broker ([mqttrpc.Broker.Request], [mqttrpc.Call],
// [mqttrpc.Broker.Gather], [mqttrpc.Discover], [mqttrpc.Broker.Publish]) runs
// in a PRODUCER span, and every request its handlers serve in a CONSUMER
// span, with no wrapper around each call:
//
//	tel, err := otelmqttrpc.New() // the global providers, W3C trace context
//	b, err := mqttrpc.Connect(ctx, url, mqttrpc.WithHook(tel))
//	reply, err := b.Request(ctx, "devices/42/reboot", nil, mqttrpc.TopicTemplate("devices/{id}/reboot"))
//
// The W3C trace context (traceparent, tracestate) of the send span travels in
// MQTT 5 User Properties; the handler's process span is its child (the
// message's creation context is the parent, and a link too), so a handler
// that calls another service with its own ctx continues the trace.
//
// Spans, attributes and metrics follow the OpenTelemetry semantic
// conventions for messaging (semconv 1.43, the newest that otel-go v1.47
// ships; messaging-spans.md and messaging-metrics.md):
//
//   - Span names are "{messaging.operation.name} {destination}", the
//     destination being low-cardinality: on the serving side the
//     subscriber's pattern ("process devices/{id}/reboot"); on the calling
//     side the [mqttrpc.TopicTemplate] the caller gave, Discover's own
//     ("mqttrpc/srv/PING/{name}"), or else the topic's first level and "#"
//     ("send devices/#"; see [WithTopicLevels]).
//   - messaging.system "mqtt" (the conventions list no value for MQTT, and
//     allow others); messaging.operation.name "send" (Request, Gather),
//     "publish" (Publish) or "process"; messaging.operation.type "send" or
//     "process".
//   - messaging.destination.name (the topic, on spans only: the metrics
//     leave it out, as the conventions ask for a name of high cardinality),
//     messaging.destination.template (the template above),
//     messaging.consumer.group.name (a shared subscription's group).
//   - server.address and server.port (the server the Broker is connected
//     to), messaging.client.id (its MQTT client identifier).
//   - messaging.message.conversation_id (the Correlation Data, when it is
//     text) and messaging.message.body.size, on both sides.
//   - error.type: the status code of an error reply or handler error
//     ("404", "500"), or what ended the call ("timeout", "no_responders",
//     "closed", "disconnected", "canceled", "_OTHER"); see [ErrorType].
//     The span's status is then Error.
//   - A Gather's span counts its replies in mqttrpc.gather.replies.
//
// The metrics are messaging.client.operation.duration and
// messaging.client.sent.messages on the calling side,
// messaging.process.duration and messaging.client.consumed.messages on the
// serving side; the histograms, in seconds, have the conventions' bucket
// boundaries ([DurationBuckets]). The instrumentation scope is [ScopeName]
// at [Version], with the conventions' schema URL.
//
// MQTT 3.1.1 has no User Properties: spans are still made, but each side
// starts a trace of its own.
package otelmqttrpc

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/mqttrpc/mqttrpc"
)

// ScopeName is the instrumentation scope of the tracer and meter: the
// module's path.
const ScopeName = "github.com/mqttrpc/mqttrpc/otel"

// Version returns the version of this module, as the instrumentation scope
// gives it: the one the build depends on ("v0.4.0"), or "(devel)" when
// built from its own directory.
func Version() string { return version() }

var version = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == ScopeName && bi.Main.Version != "" {
			return bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == ScopeName && d.Version != "" {
				return d.Version
			}
		}
	}
	return "(devel)"
})

// DurationBuckets are the bucket boundaries, in seconds, of the duration
// histograms: those the messaging conventions give as their
// ExplicitBucketBoundaries advice.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// system is messaging.system: MQTT has no value of its own in the
// conventions' list, which allows others.
const system messagingconv.SystemAttr = "mqtt"

type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
	topicLevels    int
}

// Option configures [New].
type Option func(*config)

// WithTracerProvider sets where spans go; the default is the global
// provider (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tracerProvider = tp }
}

// WithMeterProvider sets where metrics go; the default is the global
// provider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}

// WithPropagator sets how the trace context travels in User Properties; the
// default is W3C Trace Context (traceparent and tracestate), whatever the
// global propagator is.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.propagator = p }
}

// WithTopicLevels sets how many of a topic's first levels name a call that
// has no [mqttrpc.TopicTemplate]: 1 by default, so a request to
// devices/42/reboot is "send devices/#", whose template is "devices/#". 0
// keeps the whole topic, for applications whose topics carry no ids.
func WithTopicLevels(n int) Option {
	return func(c *config) { c.topicLevels = max(n, 0) }
}

// Telemetry makes the spans and metrics of mqttrpc calls and handlers. Make
// it with [New] and give it to [mqttrpc.WithHook]; it is safe for concurrent
// use, and one may serve many Brokers.
type Telemetry struct {
	tracer      trace.Tracer
	propagator  propagation.TextMapPropagator
	topicLevels int

	operationDuration messagingconv.ClientOperationDuration
	sent              messagingconv.ClientSentMessages
	processDuration   messagingconv.ProcessDuration
	consumed          messagingconv.ClientConsumedMessages

	servers sync.Map // Broker.Server() → serverAddr
}

var _ mqttrpc.Hook = (*Telemetry)(nil)

// New returns a Telemetry with opts. It fails only if the meter refuses an
// instrument.
func New(opts ...Option) (*Telemetry, error) {
	c := config{
		tracerProvider: otel.GetTracerProvider(),
		meterProvider:  otel.GetMeterProvider(),
		propagator:     propagation.TraceContext{},
		topicLevels:    1,
	}
	for _, opt := range opts {
		opt(&c)
	}
	meter := c.meterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version()), metric.WithSchemaURL(semconv.SchemaURL))
	t := &Telemetry{
		tracer:      c.tracerProvider.Tracer(ScopeName, trace.WithInstrumentationVersion(Version()), trace.WithSchemaURL(semconv.SchemaURL)),
		propagator:  c.propagator,
		topicLevels: c.topicLevels,
	}
	buckets := metric.WithExplicitBucketBoundaries(DurationBuckets...)
	var errs [4]error
	t.operationDuration, errs[0] = messagingconv.NewClientOperationDuration(meter, buckets)
	t.sent, errs[1] = messagingconv.NewClientSentMessages(meter)
	t.processDuration, errs[2] = messagingconv.NewProcessDuration(meter, buckets)
	t.consumed, errs[3] = messagingconv.NewClientConsumedMessages(meter)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("otelmqttrpc: instruments: %w", err)
	}
	return t, nil
}

// serverAddr is server.address and server.port.
type serverAddr struct {
	address string
	port    int
}

// server returns where b is connected, parsing each server's URL once.
func (t *Telemetry) server(b *mqttrpc.Broker) serverAddr {
	if b == nil {
		return serverAddr{}
	}
	raw := b.Server()
	if v, ok := t.servers.Load(raw); ok {
		return v.(serverAddr)
	}
	var a serverAddr
	if u, err := url.Parse(raw); err == nil {
		a.address = u.Hostname()
		a.port, _ = strconv.Atoi(u.Port())
	}
	t.servers.Store(raw, a)
	return a
}

// brokerAttrs appends server.address, server.port and messaging.client.id.
func (t *Telemetry) brokerAttrs(attrs []attribute.KeyValue, b *mqttrpc.Broker) []attribute.KeyValue {
	if b == nil {
		return attrs
	}
	if a := t.server(b); a.address != "" {
		attrs = append(attrs, semconv.ServerAddress(a.address))
		if a.port > 0 {
			attrs = append(attrs, semconv.ServerPort(a.port))
		}
	}
	return append(attrs, semconv.MessagingClientID(b.ClientID()))
}

// metricServerAttrs appends server.address and server.port, the metrics'
// share of brokerAttrs.
func (t *Telemetry) metricServerAttrs(attrs []attribute.KeyValue, b *mqttrpc.Broker) []attribute.KeyValue {
	if a := t.server(b); a.address != "" {
		attrs = append(attrs, semconv.ServerAddress(a.address))
		if a.port > 0 {
			attrs = append(attrs, semconv.ServerPort(a.port))
		}
	}
	return attrs
}

// template names topic by its first levels, as WithTopicLevels says.
func (t *Telemetry) template(topic string) string {
	if t.topicLevels == 0 {
		return topic
	}
	levels := strings.SplitN(topic, "/", t.topicLevels+1)
	if len(levels) <= t.topicLevels {
		return topic
	}
	return strings.Join(levels[:t.topicLevels], "/") + "/#"
}

// messageAttrs appends the conversation id and the body size of m.
func messageAttrs(attrs []attribute.KeyValue, m *mqttrpc.Message) []attribute.KeyValue {
	if m.CorrelationID != "" && utf8.ValidString(m.CorrelationID) {
		attrs = append(attrs, semconv.MessagingMessageConversationID(m.CorrelationID))
	}
	return append(attrs, semconv.MessagingMessageBodySize(len(m.Body)))
}

// Context keys that keep a call or a request from being traced twice: by a
// wrapper of this package and by the Broker's hook.
type (
	tracedCall  struct{}
	tracedServe struct{}
)

// StartCall starts the PRODUCER span of a call, named "send <template>" or
// "publish <template>", and puts its trace context in the message's User
// Properties; it implements [mqttrpc.Hook].
func (t *Telemetry) StartCall(ctx context.Context, c *mqttrpc.Calling) (context.Context, mqttrpc.CallObserver) {
	if ctx.Value(tracedCall{}) != nil { // Request, Gather or Call of this package
		return ctx, untraced{}
	}
	m := c.Message
	template := c.Template
	if template == "" {
		template = t.template(m.Topic)
	}
	op := "send"
	if c.Op == "publish" {
		op = "publish"
	}
	attrs := make([]attribute.KeyValue, 0, 11)
	attrs = append(attrs,
		semconv.MessagingSystemKey.String(string(system)),
		semconv.MessagingOperationName(op),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(m.Topic),
		semconv.MessagingDestinationTemplate(template),
	)
	attrs = t.brokerAttrs(attrs, c.Broker)
	if m.CorrelationID != "" && utf8.ValidString(m.CorrelationID) {
		attrs = append(attrs, semconv.MessagingMessageConversationID(m.CorrelationID))
	}
	ctx, span := t.tracer.Start(ctx, op+" "+template, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	t.propagator.Inject(ctx, headerCarrier{c})
	return ctx, &sendObserver{t: t, ctx: ctx, span: span, c: c, op: op, template: template, start: time.Now()}
}

// headerCarrier puts a trace context in the User Properties of a message
// about to be sent.
type headerCarrier struct{ c *mqttrpc.Calling }

func (h headerCarrier) Get(key string) string { return h.c.Message.Headers[key] }
func (h headerCarrier) Set(key, value string) { h.c.SetHeader(key, value) }
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h.c.Message.Headers))
	for k := range h.c.Message.Headers {
		keys = append(keys, k)
	}
	return keys
}

// sendObserver ends a call's span and records its metrics.
type sendObserver struct {
	t        *Telemetry
	ctx      context.Context
	span     trace.Span
	c        *mqttrpc.Calling
	op       string
	template string
	start    time.Time
	replies  int
}

// Reply counts a Gather's replies; each response of a Stream is an event
// on its span, with its index.
func (o *sendObserver) Reply(m *mqttrpc.Message, err error) {
	o.replies++
	if o.c.Op == "stream" && m != nil {
		o.span.AddEvent("response", trace.WithAttributes(attribute.Int("mqttrpc.stream.index", m.StreamIndex())))
	}
}

func (o *sendObserver) End(err error) {
	t, span := o.t, o.span
	d := time.Since(o.start).Seconds()
	// The body, which a discovery request fills in after the start.
	span.SetAttributes(semconv.MessagingMessageBodySize(len(o.c.Message.Body)))
	switch o.c.Op {
	case "gather":
		span.SetAttributes(attribute.Int("mqttrpc.gather.replies", o.replies))
	case "stream":
		span.SetAttributes(attribute.Int("mqttrpc.stream.responses", o.replies))
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, t.operationDuration.AttrDestinationTemplate(o.template))
	attrs = t.metricServerAttrs(attrs, o.c.Broker)
	if err != nil {
		errorType := ErrorType(err)
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
		span.SetStatus(codes.Error, err.Error())
		attrs = append(attrs, t.operationDuration.AttrErrorType(messagingconv.ErrorTypeAttr(errorType)))
	}
	span.End()
	t.sent.Add(o.ctx, 1, o.op, system, attrs...)
	t.operationDuration.Record(o.ctx, d, o.op, system, append(attrs, t.operationDuration.AttrOperationType(messagingconv.OperationTypeSend))...)
}

// untraced observes a call that a wrapper of this package traces already.
type untraced struct{}

func (untraced) Reply(*mqttrpc.Message, error) {}
func (untraced) End(error)                     {}

// StartServe starts the CONSUMER span of a request a handler serves, named
// "process <pattern>", the child of the trace context the request carries
// (and linked to it); it implements [mqttrpc.Hook].
func (t *Telemetry) StartServe(ctx context.Context, s *mqttrpc.Serving) (context.Context, mqttrpc.ServeObserver) {
	m := s.Message
	ctx = t.propagator.Extract(ctx, propagation.MapCarrier(m.Headers))
	template := s.Pattern
	if template == "" {
		template = t.template(m.Topic)
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	attrs = append(attrs,
		semconv.MessagingSystemKey.String(string(system)),
		semconv.MessagingOperationName("process"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(m.Topic),
		semconv.MessagingDestinationTemplate(template),
	)
	if s.Group != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(s.Group))
	}
	attrs = t.brokerAttrs(attrs, s.Broker)
	attrs = messageAttrs(attrs, m)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && sc.IsRemote() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	ctx, span := t.tracer.Start(ctx, "process "+template, opts...)
	ctx = context.WithValue(ctx, tracedServe{}, true)
	metricAttrs := make([]attribute.KeyValue, 0, 5)
	metricAttrs = append(metricAttrs, t.processDuration.AttrDestinationTemplate(template))
	if s.Group != "" {
		metricAttrs = append(metricAttrs, t.processDuration.AttrConsumerGroupName(s.Group))
	}
	if s.Broker != nil {
		metricAttrs = t.metricServerAttrs(metricAttrs, s.Broker)
	}
	return ctx, &processObserver{t: t, ctx: ctx, span: span, attrs: metricAttrs, start: time.Now()}
}

// processObserver ends a request's span and records its metrics.
type processObserver struct {
	t     *Telemetry
	ctx   context.Context
	span  trace.Span
	attrs []attribute.KeyValue
	start time.Time
}

func (o *processObserver) End(s mqttrpc.Served) {
	t, span := o.t, o.span
	d := time.Since(o.start).Seconds()
	attrs := o.attrs
	if s.Status != 200 {
		errorType := strconv.Itoa(s.Status)
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
		msg := ""
		if s.Err != nil {
			msg = s.Err.Error()
		}
		span.SetStatus(codes.Error, msg)
		attrs = append(attrs, t.processDuration.AttrErrorType(messagingconv.ErrorTypeAttr(errorType)))
	}
	span.End()
	t.processDuration.Record(o.ctx, d, "process", system, attrs...)
	t.consumed.Add(o.ctx, 1, "process", system, attrs...)
}

// Middleware traces each request as [Telemetry.StartServe] does, for a
// Broker without the hook or for some subscribers only (give it to
// [mqttrpc.WithMiddleware] or [mqttrpc.Use]). It runs inside panic
// recovery: a panic sets the span's status to Error and error.type to
// 500 and goes on up. Under a Broker whose hook is a Telemetry it does
// nothing, so the two never trace one request twice. Its spans lack
// server.address, server.port and messaging.client.id, which a middleware
// has no Broker to read.
//
// Deprecated: connect with [mqttrpc.WithHook] instead, which traces every
// handler, sees what middleware cannot, and names the server.
func (t *Telemetry) Middleware(next mqttrpc.Handler) mqttrpc.Handler {
	return mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (resp *mqttrpc.Response, err error) {
		if ctx.Value(tracedServe{}) != nil {
			return next.ServeRPC(ctx, m)
		}
		pattern, group := m.Pattern(), ""
		if rest, ok := strings.CutPrefix(pattern, "$share/"); ok {
			group, pattern, _ = strings.Cut(rest, "/")
		}
		ctx, obs := t.StartServe(ctx, &mqttrpc.Serving{Message: m, Pattern: pattern, Group: group})
		start := time.Now()
		done := func(err error) {
			obs.End(mqttrpc.Served{Pattern: m.Pattern(), Topic: m.Topic, Status: mqttrpc.StatusCode(err), Err: err, Duration: time.Since(start)})
		}
		defer func() {
			if v := recover(); v != nil {
				done(mqttrpc.Errorf(mqttrpc.StatusInternalError, "panic: %v", v))
				panic(v)
			}
		}()
		resp, err = next.ServeRPC(ctx, m)
		done(err)
		return resp, err
	})
}

// Request sends a request with [mqttrpc.Broker.Request] inside a PRODUCER
// span, as [Telemetry.StartCall] does, but named from the topic's first
// levels (see [WithTopicLevels]): the [mqttrpc.TopicTemplate] among opts is
// out of its sight. Under a Broker whose hook is a Telemetry, the hook
// stands back.
//
// Deprecated: connect with [mqttrpc.WithHook] and call
// [mqttrpc.Broker.Request], which is traced with its template.
func (t *Telemetry) Request(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts ...mqttrpc.RequestOption) (*mqttrpc.Message, error) {
	ctx, c, obs := t.startWrapped(ctx, b, "request", topic)
	reply, err := b.Request(ctx, topic, body, append(opts[:len(opts):len(opts)], c.headers())...)
	c.Message.Body = bodyOf(body)
	if reply != nil || errors.As(err, new(*mqttrpc.RemoteError)) {
		obs.Reply(reply, err)
	}
	obs.End(err)
	return reply, err
}

// Gather is [mqttrpc.Broker.Gather] inside a PRODUCER span, as
// [Telemetry.Request] is [mqttrpc.Broker.Request]: one for the whole
// gather, which counts the replies in mqttrpc.gather.replies and is the
// parent of every responder's process span.
//
// Deprecated: connect with [mqttrpc.WithHook] and call
// [mqttrpc.Broker.Gather], which is traced with its template.
func (t *Telemetry) Gather(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts ...mqttrpc.RequestOption) iter.Seq2[*mqttrpc.Message, error] {
	return func(yield func(*mqttrpc.Message, error) bool) {
		ctx, c, obs := t.startWrapped(ctx, b, "gather", topic)
		c.Message.Body = bodyOf(body)
		var failed error
		for m, err := range b.Gather(ctx, topic, body, append(opts[:len(opts):len(opts)], c.headers())...) {
			if m != nil {
				obs.Reply(m, err)
			} else {
				failed = err
			}
			if !yield(m, err) {
				break
			}
		}
		obs.End(failed)
	}
}

// startWrapped starts the span of a call that a wrapper of this package
// makes, marking ctx so that the Broker's hook stands back. The Calling it
// returns stands for the message, whose trace context it holds.
func (t *Telemetry) startWrapped(ctx context.Context, b *mqttrpc.Broker, op, topic string) (context.Context, *wrappedCall, mqttrpc.CallObserver) {
	c := &wrappedCall{Calling: mqttrpc.Calling{Broker: b, Op: op, Message: &mqttrpc.Message{Topic: topic}}}
	ctx, obs := t.StartCall(ctx, &c.Calling)
	return context.WithValue(ctx, tracedCall{}, true), c, obs
}

// wrappedCall is the Calling of a wrapper's call, before the Broker has
// built its message.
type wrappedCall struct{ mqttrpc.Calling }

// headers is the option that carries the trace context StartCall put in.
func (c *wrappedCall) headers() mqttrpc.MessageOption {
	return mqttrpc.AddHeaders(c.Message.Headers)
}

// bodyOf is the size a wrapper reports of body: exact for text and bytes.
func bodyOf(body any) []byte {
	switch v := body.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// Call is [mqttrpc.Call] through [Telemetry.Request]: it sends the request
// in a span and decodes the reply's body into an Out.
//
// Deprecated: connect with [mqttrpc.WithHook] and use [mqttrpc.Call].
func Call[Out any](ctx context.Context, t *Telemetry, b *mqttrpc.Broker, topic string, body any, opts ...mqttrpc.RequestOption) (Out, error) {
	var out Out
	reply, err := t.Request(ctx, b, topic, body, opts...)
	if err != nil {
		return out, err
	}
	if err := reply.Decode(&out); err != nil {
		return out, fmt.Errorf("otelmqttrpc: reply from %q: %w", topic, err)
	}
	return out, nil
}

// ErrorType returns the error.type of a failed call: the status code of a
// *[mqttrpc.RemoteError], "timeout", "no_responders", "closed",
// "disconnected", "canceled", or "_OTHER".
func ErrorType(err error) string {
	var re *mqttrpc.RemoteError
	switch {
	case errors.As(err, &re):
		return strconv.Itoa(re.Code)
	case errors.Is(err, mqttrpc.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, mqttrpc.ErrNoResponders):
		return "no_responders"
	case errors.Is(err, mqttrpc.ErrClosed):
		return "closed"
	case errors.Is(err, mqttrpc.ErrDisconnected):
		return "disconnected"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return string(semconv.ErrorTypeOther.Value.AsString())
}
