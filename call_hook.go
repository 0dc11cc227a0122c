package mqttrpc

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"
)

// Hook sees every call a Broker makes and every request its handlers serve,
// for tracing and metrics: give it to [WithHook] and nothing else changes,
// no wrapper around each call, as an http.RoundTripper wrapped around
// net/http's transport sees every request of a client. The OpenTelemetry
// module (github.com/mqttrpc/mqttrpc/otel) is one.
//
// StartCall is called as [Broker.Request], [Broker.Gather] and
// [Broker.Publish] are about to send their message, and through them
// [Call] and [Discover]: after the arguments are checked (a call refused
// for them is not seen), before the reply route is readied and the message
// published. The context it returns is the call's from then on; the
// observer it returns, which must not be nil, hears of each reply and of the
// end.
//
// StartServe is called as a request enters a subscriber's chain, outside
// all of it (see [Middleware] for the order), so it sees what the caller
// will: panics as 500s, payload limits, execution timeouts. The context it
// returns is the chain's and the handler's. Discovery's own subscribers are
// not observed, as [WithServedHook] does not observe them.
//
// Both run on the caller's or the handler's goroutine, concurrently with
// others: they must be quick and safe for concurrent use.
type Hook interface {
	StartCall(ctx context.Context, c *Calling) (context.Context, CallObserver)
	StartServe(ctx context.Context, s *Serving) (context.Context, ServeObserver)
}

// Calling describes a call a [Hook] sees start.
type Calling struct {
	Broker *Broker

	// Op is the call: "request" (Broker.Request, and Call), "gather"
	// (Broker.Gather, and Discover), "stream" (Broker.Stream, and
	// CallStream) or "publish"; the same as *[OpError]'s.
	Op string

	// Template is a low-cardinality name of the topic: what [TopicTemplate]
	// gave ("devices/{id}/reboot"), or, for [Discover], its verb's topic
	// with the service and instance as names ("mqttrpc/srv/PING/{name}").
	// "" if the caller gave none.
	Template string

	// Message is what is about to be sent. Read it, and add user properties
	// with SetHeader; the Broker may still set its body (a discovery request
	// on MQTT 3.1.1 names its reply topic there) and its expiry, so read
	// sizes at the end.
	Message *Message

	ownHeaders bool // Message.Headers is a copy of the caller's map
}

// SetHeader adds the user property key to the message about to be sent,
// without touching the map the caller gave with [Headers]: where a trace
// context goes (MQTT 3.1.1 drops them).
func (c *Calling) SetHeader(key, value string) {
	if !c.ownHeaders {
		h := make(map[string]string, len(c.Message.Headers)+2)
		maps.Copy(h, c.Message.Headers)
		c.Message.Headers, c.ownHeaders = h, true
	}
	c.Message.Headers[key] = value
}

// CallObserver hears how a call a [Hook] saw start goes on. Its methods are
// called on the caller's goroutine, one at a time.
type CallObserver interface {
	// Reply is called with each reply as it arrives: once for a Request
	// that was answered, for each reply a Gather yields, before it yields
	// it. err is the *[RemoteError] of an error reply, when reply is nil
	// for a Request.
	Reply(reply *Message, err error)

	// End is called once, when the call is over: with what Request or
	// Publish returns, or with the error that ended a Gather early (nil when
	// its deadline or MaxReplies ended it, or its loop stopped).
	End(err error)
}

// Serving describes a request a [Hook] sees a subscriber start to serve.
type Serving struct {
	Broker  *Broker
	Message *Message // the request

	// Pattern is the subscriber's pattern without any "$share/<group>/"
	// prefix: a name of bounded cardinality, unlike Message.Topic.
	Pattern string

	Group    string // the shared subscription's group; "" if not shared
	Service  string // the [Service] name, for an endpoint; "" otherwise
	Endpoint string // the endpoint name, for an endpoint; "" otherwise
}

// ServeObserver hears how a request a [Hook] saw start was served.
type ServeObserver interface {
	// End is called once the chain has returned, before the reply is sent,
	// with what [WithServedHook] would be told.
	End(s Served)
}

// hookedRequest is Request with the Broker's hook told of it.
func (b *Broker) hookedRequest(ctx context.Context, topicName string, m *Message, r replyRoute, opts []RequestOption) (*Message, error) {
	ctx, obs := b.cfg.hook.StartCall(ctx, &Calling{Broker: b, Op: "request", Template: requestTemplate(opts), Message: m})
	reply, err := b.request(ctx, topicName, m, r)
	if re := (*RemoteError)(nil); reply != nil || errors.As(err, &re) {
		obs.Reply(reply, err)
	}
	obs.End(err)
	return reply, err
}

// hookedGather is gather with the Broker's hook told of it.
func (b *Broker) hookedGather(ctx context.Context, topicName string, m *Message, r replyRoute, opts []RequestOption, yield func(*Message, error) bool) error {
	ctx, obs := b.cfg.hook.StartCall(ctx, &Calling{Broker: b, Op: "gather", Template: requestTemplate(opts), Message: m})
	err := b.gatherReplies(ctx, topicName, m, r, func(reply *Message, err error) bool {
		obs.Reply(reply, err)
		return yield(reply, err)
	})
	obs.End(err)
	return err
}

// hookedStream tells the Broker's hook of a Stream: its start, each
// response as it is yielded, and its end, through done.
func (b *Broker) hookedStream(ctx context.Context, m *Message, opts []RequestOption, yield func(*Message, error) bool) (context.Context, func(*Message, error) bool, func(error)) {
	ctx, obs := b.cfg.hook.StartCall(ctx, &Calling{Broker: b, Op: "stream", Template: requestTemplate(opts), Message: m})
	observed := func(reply *Message, err error) bool {
		obs.Reply(reply, err)
		return yield(reply, err)
	}
	return ctx, observed, obs.End
}

// hookedPublish is Publish with the Broker's hook told of it.
func (b *Broker) hookedPublish(ctx context.Context, topicName string, m *Message, opts []PublishOption) error {
	var o publishOptions
	for _, opt := range opts {
		o = opt.applyPublish(o)
	}
	ctx, obs := b.cfg.hook.StartCall(ctx, &Calling{Broker: b, Op: "publish", Template: o.template, Message: m})
	err := b.publish(ctx, topicName, m)
	obs.End(err)
	return err
}

// requestTemplate is the TopicTemplate among a request's options. Read again
// here, on the hooked path only, so that a request without a hook carries
// nothing more.
func requestTemplate(opts []RequestOption) string {
	var o requestOptions
	for _, opt := range opts {
		o = opt.applyRequest(o)
	}
	return o.template
}

// hooked tells the Broker's hook of each request the chain h serves.
func (s *Subscription) hooked(h Handler) Handler {
	hook := s.b.cfg.hook
	group := sharedGroup(s.filter)
	pattern := s.pattern.Raw
	if group != "" {
		pattern = strings.TrimPrefix(pattern, "$share/"+group+"/")
	}
	var service, endpoint string
	if s.opts.endpoint != nil {
		service, endpoint = s.opts.endpoint.names()
	}
	return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
		ctx, obs := hook.StartServe(ctx, &Serving{Broker: s.b, Message: m, Pattern: pattern, Group: group, Service: service, Endpoint: endpoint})
		start := time.Now()
		resp, err := h.ServeRPC(ctx, m)
		obs.End(Served{Pattern: s.raw, Topic: m.Topic, Service: service, Endpoint: endpoint,
			Status: StatusCode(err), Err: err, Duration: time.Since(start)})
		return resp, err
	})
}
