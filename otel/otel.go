// Package otelmqttrpc traces and measures mqttrpc requests with
// OpenTelemetry, in a module of its own so that mqttrpc itself never depends
// on OpenTelemetry.
//
// The W3C trace context (traceparent, tracestate) travels in MQTT 5 User
// Properties. On the serving side, [Telemetry.Middleware] extracts it and
// runs the handler in a CONSUMER span named "process <pattern>"; on the
// calling side, [Telemetry.Request], [Call] and [Telemetry.Gather] run the request in a PRODUCER
// span named "send <topic>" and inject its context. A handler that calls
// another service through them with its own ctx continues the trace.
//
//	tel, err := otelmqttrpc.New() // the global providers, W3C trace context
//	b, err := mqttrpc.Connect(ctx, url, mqttrpc.WithMiddleware(tel.Middleware))
//	reply, err := tel.Request(ctx, b, "rpc/echo", "hello")
//
// Spans, attributes and metrics follow the OpenTelemetry semantic
// conventions for messaging: messaging.system "mqtt", messaging.operation.name
// and .type "send" or "process", messaging.destination.name (the topic),
// messaging.destination.template (the handler's pattern),
// messaging.message.conversation_id (the Correlation Data, when it is text),
// messaging.message.body.size, and error.type (the status code of an error
// reply, or what ended the request). The metrics are
// messaging.client.operation.duration and messaging.client.sent.messages on
// the calling side, messaging.process.duration and
// messaging.client.consumed.messages on the serving side.
//
// MQTT 3.1.1 has no User Properties: spans are still made, but each side
// starts a trace of its own.
package otelmqttrpc

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
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

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/mqttrpc/mqttrpc/otel"

// system is messaging.system: MQTT has no value of its own in the
// conventions' list, which allows others.
const system messagingconv.SystemAttr = "mqtt"

type config struct {
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	propagator     propagation.TextMapPropagator
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

// Telemetry makes the spans and metrics of mqttrpc requests. Make it with
// [New]; it is safe for concurrent use.
type Telemetry struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator

	operationDuration messagingconv.ClientOperationDuration
	sent              messagingconv.ClientSentMessages
	processDuration   messagingconv.ProcessDuration
	consumed          messagingconv.ClientConsumedMessages
}

// New returns a Telemetry with opts. It fails only if the meter refuses an
// instrument.
func New(opts ...Option) (*Telemetry, error) {
	c := config{
		tracerProvider: otel.GetTracerProvider(),
		meterProvider:  otel.GetMeterProvider(),
		propagator:     propagation.TraceContext{},
	}
	for _, opt := range opts {
		opt(&c)
	}
	meter := c.meterProvider.Meter(ScopeName)
	t := &Telemetry{tracer: c.tracerProvider.Tracer(ScopeName), propagator: c.propagator}
	var errs [4]error
	t.operationDuration, errs[0] = messagingconv.NewClientOperationDuration(meter)
	t.sent, errs[1] = messagingconv.NewClientSentMessages(meter)
	t.processDuration, errs[2] = messagingconv.NewProcessDuration(meter)
	t.consumed, errs[3] = messagingconv.NewClientConsumedMessages(meter)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("otelmqttrpc: instruments: %w", err)
	}
	return t, nil
}

// Middleware runs each request in a CONSUMER span named "process
// <pattern>", the child of the trace context the request carries, and
// records messaging.process.duration and messaging.client.consumed.messages.
// Give it to [mqttrpc.WithMiddleware] for every subscriber, or to
// [mqttrpc.Use] for some. The handler's ctx carries the span, so requests it
// sends through [Telemetry.Request] continue the trace.
//
// A handler's error sets the span's status to Error and error.type to the
// status code its caller gets; a panic does so with 500 and goes on up, to
// the Broker's recovery.
func (t *Telemetry) Middleware(next mqttrpc.Handler) mqttrpc.Handler {
	return mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (resp *mqttrpc.Response, err error) {
		ctx = t.propagator.Extract(ctx, propagation.MapCarrier(m.Headers))
		template := m.Pattern()
		if template == "" {
			template = m.Topic
		}
		attrs := []attribute.KeyValue{
			semconv.MessagingSystemKey.String(string(system)),
			semconv.MessagingOperationName("process"),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(m.Topic),
			semconv.MessagingDestinationTemplate(template),
			semconv.MessagingMessageBodySize(len(m.Body)),
		}
		if m.CorrelationID != "" && utf8.ValidString(m.CorrelationID) {
			attrs = append(attrs, semconv.MessagingMessageConversationID(m.CorrelationID))
		}
		ctx, span := t.tracer.Start(ctx, "process "+template, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
		start := time.Now()
		done := func(status int, err error) {
			metricAttrs := []attribute.KeyValue{
				t.processDuration.AttrDestinationName(m.Topic),
				t.processDuration.AttrDestinationTemplate(template),
			}
			if status != 200 {
				errorType := strconv.Itoa(status)
				span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
				span.SetStatus(codes.Error, err.Error())
				metricAttrs = append(metricAttrs, t.processDuration.AttrErrorType(messagingconv.ErrorTypeAttr(errorType)))
			}
			span.End()
			t.processDuration.Record(ctx, time.Since(start).Seconds(), "process", system, metricAttrs...)
			t.consumed.Add(ctx, 1, "process", system, metricAttrs...)
		}
		defer func() {
			if v := recover(); v != nil {
				done(mqttrpc.StatusInternalError, fmt.Errorf("panic: %v", v))
				panic(v)
			}
		}()
		resp, err = next.ServeRPC(ctx, m)
		done(mqttrpc.StatusCode(err), err)
		return resp, err
	})
}

// Request sends a request with [mqttrpc.Broker.Request] inside a PRODUCER
// span named "send <topic>", whose trace context goes with it in the
// traceparent and tracestate User Properties (added to any [mqttrpc.Headers]
// with [mqttrpc.AddHeaders]). The span lasts until the reply or the error; it
// records messaging.client.operation.duration and
// messaging.client.sent.messages. The span name holds the topic, which the
// messaging conventions allow for destinations of low cardinality: where
// topics carry device ids, rename such spans in a span processor.
func (t *Telemetry) Request(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts ...mqttrpc.RequestOption) (*mqttrpc.Message, error) {
	ctx, span := t.startSend(ctx, topic)
	start := time.Now()
	reply, err := b.Request(ctx, topic, body, append(opts[:len(opts):len(opts)], t.inject(ctx))...)
	t.endSend(ctx, span, topic, start, err)
	return reply, err
}

// startSend starts the PRODUCER span of a request to topic.
func (t *Telemetry) startSend(ctx context.Context, topic string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "send "+topic, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		semconv.MessagingSystemKey.String(string(system)),
		semconv.MessagingOperationName("send"),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(topic),
	))
}

// inject returns the option that carries ctx's trace context.
func (t *Telemetry) inject(ctx context.Context) mqttrpc.MessageOption {
	carrier := propagation.MapCarrier{}
	t.propagator.Inject(ctx, carrier)
	return mqttrpc.AddHeaders(carrier)
}

// endSend ends the span of a request that began at start, and records it.
func (t *Telemetry) endSend(ctx context.Context, span trace.Span, topic string, start time.Time, err error) {
	metricAttrs := []attribute.KeyValue{t.operationDuration.AttrDestinationName(topic)}
	if err != nil {
		errorType := ErrorType(err)
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
		span.SetStatus(codes.Error, err.Error())
		metricAttrs = append(metricAttrs, t.operationDuration.AttrErrorType(messagingconv.ErrorTypeAttr(errorType)))
	}
	span.End()
	t.operationDuration.Record(ctx, time.Since(start).Seconds(), "send", system, metricAttrs...)
	t.sent.Add(ctx, 1, "send", system, metricAttrs...)
}

// Gather is [mqttrpc.Broker.Gather] inside a PRODUCER span named "send
// <topic>", which lasts until the loop ends and counts the replies in the
// attribute mqttrpc.gather.replies; each responder's "process" span is its
// child. It records what [Telemetry.Request] records, an error being one
// that ended the loop.
func (t *Telemetry) Gather(ctx context.Context, b *mqttrpc.Broker, topic string, body any, opts ...mqttrpc.RequestOption) iter.Seq2[*mqttrpc.Message, error] {
	return func(yield func(*mqttrpc.Message, error) bool) {
		ctx, span := t.startSend(ctx, topic)
		start := time.Now()
		var replies int
		var failed error
		for m, err := range b.Gather(ctx, topic, body, append(opts[:len(opts):len(opts)], t.inject(ctx))...) {
			if m != nil {
				replies++
			} else {
				failed = err
			}
			if !yield(m, err) {
				break
			}
		}
		span.SetAttributes(attribute.Int("mqttrpc.gather.replies", replies))
		t.endSend(ctx, span, topic, start, failed)
	}
}

// Call is [mqttrpc.Call] through [Telemetry.Request]: it sends the request
// in a span and decodes the reply's body into an Out.
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

// ErrorType returns the error.type of a failed request: the status code of a
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
