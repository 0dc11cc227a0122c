package mqttrpc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"time"
)

// Version is an MQTT protocol version.
type Version byte

// The MQTT protocol versions a Broker speaks.
const (
	V5   Version = 5 // MQTT 5.0, on github.com/eclipse/paho.golang
	V311 Version = 4 // MQTT 3.1.1, on github.com/eclipse/paho.mqtt.golang
)

// String returns the version as MQTT writes it: "5.0" or "3.1.1".
func (v Version) String() string {
	switch v {
	case V5:
		return "5.0"
	case V311:
		return "3.1.1"
	}
	return "unknown"
}

// config is what [Connect] is told by its options.
type config struct {
	version        Version
	servers        []string // tried after Connect's URL, in order
	clientID       string
	username       string
	password       string
	keepAlive      time.Duration
	tls            *tls.Config
	logger         *slog.Logger
	inboxPrefix    string
	requestTimeout time.Duration
	connectTimeout time.Duration
	backoffMin     time.Duration
	backoffMax     time.Duration
	stateHandler   func(StateChange)
	sessionExpiry  time.Duration
	middleware     []Middleware
	errorDetails   bool
	discovery      string // topic prefix of discovery; see WithDiscoveryPrefix
	noDiscovery    bool   // see WithoutDiscovery
	servedHook     func(context.Context, Served)
	hook           Hook            // see WithHook; nil for none
	schemaGen      SchemaGenerator // see WithSchemaGenerator
}

func defaultConfig() config {
	return config{
		version:        V5,
		keepAlive:      30 * time.Second,
		logger:         slog.New(slog.DiscardHandler),
		inboxPrefix:    "mqttrpc/inbox",
		requestTimeout: 5 * time.Second,
		connectTimeout: 10 * time.Second,
		backoffMin:     100 * time.Millisecond,
		backoffMax:     5 * time.Second,
		discovery:      DefaultDiscoveryPrefix,
	}
}

// validate reports every setting that cannot work, all at once.
func (c *config) validate() error {
	var errs []error
	if c.version != V5 && c.version != V311 {
		errs = append(errs, fmt.Errorf("unknown MQTT version %d", c.version))
	}
	for name, d := range map[string]time.Duration{
		"request timeout": c.requestTimeout, "connect timeout": c.connectTimeout, "reconnect backoff": c.backoffMin,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v is not positive", name, d))
		}
	}
	if c.backoffMax < c.backoffMin {
		errs = append(errs, fmt.Errorf("reconnect backoff maximum %v is below its minimum %v", c.backoffMax, c.backoffMin))
	}
	if c.keepAlive < 0 || c.keepAlive > 65535*time.Second {
		errs = append(errs, fmt.Errorf("keep-alive %v is outside 0 to 65535 s", c.keepAlive))
	}
	if c.sessionExpiry < 0 || c.sessionExpiry/time.Second > 1<<32-1 {
		errs = append(errs, fmt.Errorf("session expiry %v is out of range", c.sessionExpiry))
	}
	if err := validDiscoveryPrefix(c.discovery); err != nil {
		errs = append(errs, err)
	}
	if c.logger == nil {
		errs = append(errs, errors.New("nil logger"))
	}
	if err := errors.Join(errs...); err != nil {
		return failWith(ErrInvalidArgument, err)
	}
	return nil
}

// Option configures [Connect].
type Option interface {
	applyConfig(config) config
}

// Every option, of Connect and of each call, is a value whose method returns
// the settings with its own applied. By value: through a pointer, the
// settings of Publish and Request would escape to the heap on every call.
// Where that cost is no concern, a function does the work:

type configFunc func(*config)

func (f configFunc) applyConfig(c config) config {
	f(&c)
	return c
}

type subscribeFunc func(*subscribeOptions)

// WithVersion selects the MQTT protocol version; the default is [V5].
func WithVersion(v Version) Option { return configFunc(func(c *config) { c.version = v }) }

// WithServers adds servers to try after the one given to [Connect], in the
// order given: the nodes of a broker cluster, or brokers bridged together.
// Each attempt to connect, the first and every one after a lost connection,
// tries them all in turn, starting from Connect's URL, and waits out the
// reconnect backoff (see [WithReconnectBackoff]) only once all have failed.
// So when the server in use dies, the Broker moves on to the next one that
// answers and restores its subscriptions there. [Broker.Server] says which
// one is in use. The default is Connect's URL alone.
//
// The servers must share the same topics and clients: nodes of one cluster,
// or brokers bridged for every topic the Broker uses (its handlers' filters
// and its reply topics). Requests in flight when the connection moves fail
// with [ErrDisconnected] or time out; they are not sent again.
func WithServers(urls ...string) Option {
	return configFunc(func(c *config) { c.servers = append(c.servers, urls...) })
}

// WithClientID sets the MQTT client identifier; the default is "mqttrpc-"
// followed by random characters. Two clients with one ID knock each other off
// the broker, so set it only to something unique.
func WithClientID(id string) Option { return configFunc(func(c *config) { c.clientID = id }) }

// WithCredentials sets the username and password sent in CONNECT.
func WithCredentials(username, password string) Option {
	return configFunc(func(c *config) { c.username, c.password = username, password })
}

// WithSessionExpiry asks the MQTT broker to keep the client's session for d
// after the connection drops: its subscriptions, and the QoS 1 and 2 messages
// that arrive meanwhile, delivered on reconnect. The first connection then
// resumes a session left by an earlier client with the same ID (MQTT 5 Clean
// Start false; a persistent session, Clean Session false, on 3.1.1, where the
// broker decides how long it lives). Use it with [WithClientID], and with
// [Deduplicate] on handlers that must not run twice. The default, 0, starts
// clean and keeps nothing: the Broker subscribes again on every connection
// either way.
func WithSessionExpiry(d time.Duration) Option {
	return configFunc(func(c *config) { c.sessionExpiry = d })
}

// WithKeepAlive sets the MQTT keep-alive interval; the default is 30 s.
func WithKeepAlive(d time.Duration) Option { return configFunc(func(c *config) { c.keepAlive = d }) }

// WithTLSConfig sets the TLS configuration for mqtts:// (and wss://) URLs;
// the default is the system roots with the URL's host as server name.
func WithTLSConfig(cfg *tls.Config) Option { return configFunc(func(c *config) { c.tls = cfg }) }

// WithLogger sets where the Broker logs connection changes and handler
// failures it cannot return to anyone; the default discards them.
func WithLogger(l *slog.Logger) Option { return configFunc(func(c *config) { c.logger = l }) }

// WithInboxPrefix sets the topic prefix of the reply inbox; the default is
// "mqttrpc/inbox". Each Broker subscribes to <prefix>/<random token>/+, so
// an ACL can confine each client to its own prefix.
func WithInboxPrefix(prefix string) Option {
	return configFunc(func(c *config) { c.inboxPrefix = prefix })
}

// WithRequestTimeout sets the timeout of a [Broker.Request] or
// [Broker.Publish] whose context has no deadline; the default is 5 s.
func WithRequestTimeout(d time.Duration) Option {
	return configFunc(func(c *config) { c.requestTimeout = d })
}

// WithConnectTimeout bounds how long [Connect] waits for the first connection
// when its context has no earlier deadline; the default is 10 s.
func WithConnectTimeout(d time.Duration) Option {
	return configFunc(func(c *config) { c.connectTimeout = d })
}

// WithReconnectBackoff sets the wait between reconnection attempts: it starts
// at min and doubles up to max. The default is 100 ms up to 5 s, short because
// RPC callers are waiting.
func WithReconnectBackoff(min, max time.Duration) Option {
	return configFunc(func(c *config) { c.backoffMin, c.backoffMax = min, max })
}

// WithMiddleware adds middleware to every subscriber of the Broker, outside
// each subscriber's own (see [Middleware] for the whole order).
func WithMiddleware(mw ...Middleware) Option {
	return configFunc(func(c *config) { c.middleware = append(c.middleware, mw...) })
}

// WithErrorDetails makes error replies carry the text of the errors behind
// them: what a handler returned, a panic value, why a payload did not decode.
// By default an error that is not a *[RemoteError] is answered with a generic
// message ("internal error") and its text only goes to the log, as it may
// name internal types and values. Turn it on while developing.
func WithErrorDetails() Option { return configFunc(func(c *config) { c.errorDetails = true }) }

// WithStateHandler calls fn each time the Broker's connection state
// changes, including the first StateConnected and the final StateClosed,
// with the server it concerns. The calls come in order, on one goroutine of
// the Broker's own, so fn may take its time; a change is dropped, and
// logged, if 64 are already waiting for fn.
func WithStateHandler(fn func(StateChange)) Option {
	return configFunc(func(c *config) { c.stateHandler = fn })
}

// WithServedHook calls fn once for every request a subscriber of the Broker
// has served, after its chain (every middleware, panic recovery included)
// has returned and before the reply is sent: a point to count requests,
// errors and durations, for Prometheus say, that sees panics, payload limits
// and execution timeouts as the caller will. fn runs on the handler's
// goroutine with the handler's context, so it must be quick and safe for
// concurrent use. Without it, nothing is measured and the request path pays
// nothing.
//
// Requests refused before any handler runs (no handler for the topic, the
// subscriber's queue full, the Broker closing) are counted in [Stats]
// instead, and discovery requests not at all.
func WithServedHook(fn func(ctx context.Context, s Served)) Option {
	return configFunc(func(c *config) { c.servedHook = fn })
}

// WithHook has h see every call the Broker makes (Request, Gather,
// Publish, and Call and Discover through them) and every request its
// subscribers serve: see [Hook]. For tracing and metrics, as the otel
// module's Telemetry does. Without it, the call and serve paths pay one nil
// check.
func WithHook(h Hook) Option { return configFunc(func(c *config) { c.hook = h }) }

// WithDiscoveryPrefix sets the topic prefix under which the Broker's
// services answer discovery and [Discover] asks; the default is
// [DefaultDiscoveryPrefix]. It must be a topic without wildcards, and not
// start with '$', which MQTT reserves for brokers.
func WithDiscoveryPrefix(prefix string) Option {
	return configFunc(func(c *config) { c.discovery = prefix })
}

// SchemaGenerator returns the JSON Schema of the body of Go type t, as
// [Typed] encodes it (a string as text, a []byte as it is, anything else as
// JSON): a standalone schema, its definitions under $defs.
type SchemaGenerator func(t reflect.Type) (json.RawMessage, error)

// WithSchemaGenerator has the Broker's services make the JSON Schemas of
// their [Typed] endpoints' requests and replies with gen, when each endpoint
// is added, and answer them to discovery's SCHEMA (see [Discover]), so that
// a client that knows the services only from discovery (mqttrpc docs, a
// client generator) knows what to send and what comes back. The core module
// has no schema generator of its own, to stay lean: the asyncapi module's
// asyncapi.JSONSchema is one. [EndpointSchemaJSON] gives an endpoint's
// schemas by hand instead, also without a generator.
func WithSchemaGenerator(gen SchemaGenerator) Option {
	return configFunc(func(c *config) { c.schemaGen = gen })
}

// WithoutDiscovery makes the Broker's services answer no discovery request:
// they subscribe to no discovery topic, and keep their statistics for
// [Service.Stats] alone. [Discover] still asks other services.
func WithoutDiscovery() Option {
	return configFunc(func(c *config) { c.noDiscovery = true })
}

// publishOptions are the settings shared by [Broker.Publish], [Broker.Request]
// and [Broker.Subscriber].
type publishOptions struct {
	replyTo       string
	qos           byte
	retain        bool
	headers       map[string]string
	addHeaders    map[string]string // see AddHeaders; merged over headers
	correlationID string
	contentType   string
	template      string // see TopicTemplate
}

// requestOptions are the settings of one [Broker.Request].
type requestOptions struct {
	publishOptions
	timeout     time.Duration
	tokenReply  string        // the reply prefix of TokenReply; "" for none
	maxReplies  int           // Gather only
	replyBuffer int           // Gather and Stream; 0 for the default
	idle        time.Duration // Stream only; see IdleTimeout
	bodyReply   bool          // on MQTT 3.1.1 the body names the reply topic (discovery)
}

// subscribeOptions are the settings of one [Broker.Subscriber].
type subscribeOptions struct {
	qos         byte
	noReply     bool
	replyTopic  string
	concurrency int
	queue       int
	timeout     time.Duration
	maxPayload  int
	dedup       int
	retained    bool
	shared      *string // the shared subscription group; nil for none
	middleware  []Middleware

	// What services add; the core sees them only through endpoint.
	endpoint endpointObserver // the endpoint served; nil outside services
	about    endpointAbout    // what discovery's INFO says of the endpoint
	internal bool             // discovery: no Broker middleware, no statistics
}

// PublishOption configures [Broker.Publish].
type PublishOption interface {
	applyPublish(publishOptions) publishOptions
}

// RequestOption configures [Broker.Request].
type RequestOption interface {
	applyRequest(requestOptions) requestOptions
}

// SubscribeOption configures [Broker.Subscriber].
type SubscribeOption interface {
	applySubscribe(subscribeOptions) subscribeOptions
}

// MessageOption configures the message sent by [Broker.Publish] or
// [Broker.Request].
type MessageOption interface {
	PublishOption
	RequestOption
}

// QoSOption sets a quality of service; it fits every call that has one.
type QoSOption interface {
	PublishOption
	RequestOption
	SubscribeOption
}

type qosOption byte

func (q qosOption) applyPublish(o publishOptions) publishOptions       { o.qos = byte(q); return o }
func (q qosOption) applyRequest(o requestOptions) requestOptions       { o.qos = byte(q); return o }
func (q qosOption) applySubscribe(o subscribeOptions) subscribeOptions { o.qos = byte(q); return o }

// QoS sets the MQTT quality of service: of the message for [Broker.Publish]
// and [Broker.Request], of the subscription for [Broker.Subscriber]. The
// default is 0. Values above 2 are rejected by the call.
func QoS(qos byte) QoSOption {
	return qosOption(qos)
}

type headersOption map[string]string

func (h headersOption) applyPublish(o publishOptions) publishOptions { o.headers = h; return o }
func (h headersOption) applyRequest(o requestOptions) requestOptions { o.headers = h; return o }

// Headers sets the MQTT 5 User Properties of the message. They are not sent
// on MQTT 3.1.1, which has no properties.
func Headers(h map[string]string) MessageOption {
	return headersOption(h)
}

type addHeadersOption map[string]string

func (h addHeadersOption) applyPublish(o publishOptions) publishOptions {
	o.addHeaders = mergeHeaders(o.addHeaders, h)
	return o
}

func (h addHeadersOption) applyRequest(o requestOptions) requestOptions {
	o.addHeaders = mergeHeaders(o.addHeaders, h)
	return o
}

// AddHeaders adds MQTT 5 User Properties to those of [Headers], whichever
// comes first among the options; on a key both set, AddHeaders wins. It is
// how a wrapper adds its own, such as a W3C traceparent, without replacing
// its caller's. Not sent on MQTT 3.1.1.
func AddHeaders(h map[string]string) MessageOption {
	return addHeadersOption(h)
}

// mergeHeaders returns a and b in one map, b winning, without changing
// either.
func mergeHeaders(a, b map[string]string) map[string]string {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0:
		return b
	}
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

type correlationOption string

func (c correlationOption) applyPublish(o publishOptions) publishOptions {
	o.correlationID = string(c)
	return o
}

func (c correlationOption) applyRequest(o requestOptions) requestOptions {
	o.correlationID = string(c)
	return o
}

// CorrelationID sets the MQTT 5 Correlation Data. A request's default is a
// random UUID. Not sent on MQTT 3.1.1.
func CorrelationID(id string) MessageOption {
	return correlationOption(id)
}

type contentTypeOption string

func (c contentTypeOption) applyPublish(o publishOptions) publishOptions {
	o.contentType = string(c)
	return o
}

func (c contentTypeOption) applyRequest(o requestOptions) requestOptions {
	o.contentType = string(c)
	return o
}

// ContentType sets the MQTT 5 Content Type of the message, in place of the
// one its body's Go type gives (see [Broker.Request]): for a []byte body in
// a format of its own, such as CBOR or protobuf. Not sent on MQTT 3.1.1.
func ContentType(ct string) MessageOption {
	return contentTypeOption(ct)
}

type templateOption string

func (t templateOption) applyPublish(o publishOptions) publishOptions {
	o.template = string(t)
	return o
}

func (t templateOption) applyRequest(o requestOptions) requestOptions {
	o.template = string(t)
	return o
}

// TopicTemplate names the topic of a call with a template of bounded
// cardinality, for the Broker's [Hook]: "devices/{id}/reboot" for a request
// to devices/42/reboot, so that traces and metrics have one name per kind
// of call, not one per device. It changes nothing on the wire. Without it, a
// Hook sees no template and picks a name of its own (the otel module takes
// the topic's first level).
func TopicTemplate(template string) MessageOption {
	return templateOption(template)
}

type replyToOption string

func (r replyToOption) applyRequest(o requestOptions) requestOptions { o.replyTo = string(r); return o }
func (r replyToOption) applyPublish(o publishOptions) publishOptions { o.replyTo = string(r); return o }

type timeoutOption time.Duration

func (d timeoutOption) applyRequest(o requestOptions) requestOptions {
	o.timeout = time.Duration(d)
	return o
}

// Timeout bounds how long [Broker.Request] waits for its reply. It applies
// on top of the context's deadline (the earlier wins); without either, the
// Broker's request timeout (default 5 s) applies.
func Timeout(d time.Duration) RequestOption {
	return timeoutOption(d)
}

// ReplyTo makes [Broker.Request] wait for its reply on this topic instead of
// the Broker's private inbox. The Broker subscribes to the topic once and
// keeps the subscription, on every new connection too; should a server
// refuse it there, the next request on the topic subscribes again, and fails
// with [ErrRefused] while it is refused. Requests sharing one reply topic
// are sent one at a time, each taking the next message on it as its reply.
//
// On MQTT 3.1.1 nothing in a reply says which request it answers, so a
// request that ends without its reply (timeout, cancel, lost connection)
// after it may have been published leaves the topic owing that reply: the
// next message on it with no request waiting is dropped as the late reply
// (counted in [Stats].DroppedReplies), and the next request waits for it
// before it is published, so a call gets its own reply or an error, never
// another call's. An owed reply is waited for as long as its request was
// given to run, and at least the Broker's request timeout (see
// [WithRequestTimeout]), counted from when the broker acknowledges a packet
// sent after the request: not while the link is stalled, and anew after a
// reconnect. A reply lost for good costs the topic that long; one later
// than that, or a second reply to one request, can still answer the next
// call. [TokenReply] ties each reply to its request by topic instead.
//
// On [Broker.Publish] it only sets the MQTT 5 Response Topic: a request whose
// reply someone else will receive.
func ReplyTo(topic string) MessageOption {
	return replyToOption(topic)
}

type retainOption struct{}

func (retainOption) applyPublish(o publishOptions) publishOptions { o.retain = true; return o }

// Retain publishes the message as retained.
func Retain() PublishOption {
	return retainOption{}
}

func (f subscribeFunc) applySubscribe(o subscribeOptions) subscribeOptions {
	f(&o)
	return o
}

// NoReply makes the subscriber send no reply: what the handler returns is
// dropped, and its errors are only logged.
func NoReply() SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.noReply = true })
}

// ReplyTopic names the topic a handler's reply goes to when the request
// carries no Response Topic: always so on MQTT 3.1.1 (the equivalent of
// FastStream's @broker.publisher). A request's own Response Topic wins. Its
// levels may name the pattern's: with "svc/request/{token}",
// "svc/response/{token}" answers svc/request/42 on svc/response/42, which is
// how callers using [TokenReply] are answered. On
// MQTT 5 a message with Correlation Data and no Response Topic is a reply, and
// is never answered, so two services whose reply topics are each other's
// request topics cannot answer each other forever; on MQTT 3.1.1, which cannot
// tell replies apart, the Broker refuses a reply topic that one of its own
// subscribers' filters matches, and across processes such a pair loops.
func ReplyTopic(topic string) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.replyTopic = topic })
}

// Concurrency sets how many requests the subscriber's handler serves at
// once; the default is 64. Each request runs on its own goroutine, so a slow
// handler never holds up replies or other subscribers.
func Concurrency(n int) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.concurrency = n })
}

// QueueLimit sets how many requests may wait for a free handler beyond those
// running; the default is 1024. A request arriving when all are taken is
// answered at once with a [StatusServiceUnavailable] error reply, so memory
// stays bounded and the caller does not wait for a timeout.
func QueueLimit(n int) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.queue = n })
}

// ExecutionTimeout bounds how long the handler may run. At the timeout its
// context is cancelled and the caller is answered at once with
// [StatusRequestTimeout]; whatever the handler returns later is dropped. A
// handler that ignores its context keeps its concurrency slot until it
// returns, so a stuck handler cannot make the subscriber take unbounded work.
// The default is no timeout beyond the request's own expiry.
func ExecutionTimeout(d time.Duration) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.timeout = d })
}

// MaxPayload makes the subscriber answer requests whose payload is larger
// than n bytes with [StatusPayloadTooLarge], without calling the handler. The
// default, 0, sets no limit beyond the MQTT broker's own.
func MaxPayload(n int) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.maxPayload = n })
}

// Deduplicate makes the subscriber run its handler once per request even when
// the request arrives twice (a QoS 1 redelivery, or a caller that retries with
// the same [CorrelationID]): it remembers the outcome of the last n requests
// and answers a repeat with it, sent to the repeat's own Response Topic. A
// repeat has the topic, Correlation Data and payload of a remembered request;
// the same Correlation Data on another topic, or with another payload, is a
// new request. Requests without Correlation Data (all of MQTT 3.1.1) cannot be
// told apart and always run. The default, 0, remembers nothing.
func Deduplicate(n int) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.dedup = n })
}

// AcceptRetained makes the subscriber run requests that the MQTT broker
// delivers as retained messages. By default they are dropped (and counted in
// [Stats].Retained), and on MQTT 5 the subscription asks for none (Retain
// Handling 2): the broker delivers a retained message again on every
// subscribe, so a retained command would run again after every reconnect.
// With this option it does.
func AcceptRetained() SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.retained = true })
}

// Use adds middleware to the subscriber, inside the Broker's (see
// [Middleware] for the whole order). On a [Group], it applies to every
// subscriber of the group.
func Use(mw ...Middleware) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.middleware = append(o.middleware, mw...) })
}

// Shared makes the subscription a shared one in group: the MQTT broker hands
// each request to one of the subscribers in the group, instead of a copy to
// each, so that several instances of a service split the load. The
// subscription is "$share/<group>/<filter>", made from the pattern, whose
// {name} levels still work; routing, and which pattern is the most specific,
// go by the filter without the prefix. Each instance registers the same
// pattern with the same group.
//
// On MQTT 5 a broker says in its CONNACK whether it offers shared
// subscriptions: where it does not, [Broker.Subscriber] fails with
// [ErrFeatureNotSupported]. MQTT 3.1.1 has no such
// notice, and brokers that take "$share/..." for a plain topic accept the
// subscription and never deliver a request to it: NATS (2.9 and 2.15) and
// RabbitMQ 3.10 do so, and ejabberd disconnects the client (0x9E). mosquitto,
// EMQX, HiveMQ, VerneMQ and the embedded broker honour it on both versions.
//
// group must be non-empty and free of '/', '+' and '#'. A pattern given as
// "$share/<group>/..." does the same; both at once are refused. On a
// [Group], every subscriber of the group is shared.
func Shared(group string) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.shared = &group })
}

// EndpointMetadata sets an endpoint's metadata, which discovery's INFO
// reports. Only [Service.Endpoint] takes it; [Broker.Subscriber] refuses it.
func EndpointMetadata(md map[string]string) SubscribeOption {
	md = maps.Clone(md)
	return subscribeFunc(func(o *subscribeOptions) { o.about.metadata = md })
}

// EndpointSchema names the JSON schemas of an endpoint's request and reply,
// which discovery's INFO reports: a name or a URL, as the service's users
// know them. For a [Typed] handler they default to its Go types' names. Only
// [Service.Endpoint] takes it; [Broker.Subscriber] refuses it.
func EndpointSchema(request, response string) SubscribeOption {
	return subscribeFunc(func(o *subscribeOptions) { o.about.requestSchema, o.about.responseSchema = request, response })
}

// EndpointSchemaJSON gives the JSON Schemas of an endpoint's request and
// reply, which discovery's SCHEMA answers: each standalone, with its
// definitions under $defs; nil for one that is not known. It takes
// precedence over the Broker's [WithSchemaGenerator], and serves raw handlers,
// whose types nothing knows. Only [Service.Endpoint] takes it;
// [Broker.Subscriber] refuses it.
func EndpointSchemaJSON(request, response json.RawMessage) SubscribeOption {
	request, response = slices.Clone(request), slices.Clone(response)
	return subscribeFunc(func(o *subscribeOptions) { o.about.requestJSON, o.about.responseJSON = request, response })
}

type replyBufferOption int

func (n replyBufferOption) applyRequest(o requestOptions) requestOptions {
	o.replyBuffer = int(n)
	return o
}

// ReplyBuffer sets how many replies a [Broker.Gather] (or [Discover]), or
// responses a [Broker.Stream], holds for a loop that has not taken them
// yet; the default, 16,384, lets every instance of a fleet of 10,000 answer
// at once, and a stream run ahead of a loop that is slower for a while.
// Each held reply keeps its Message and body: about 0.5 KB for a PING
// reply, a few KB for INFO. Past it, a Gather drops replies and ends with
// [ErrRepliesDropped]; a Stream ends with [ErrStreamBroken]. MQTT has no
// way to slow one stream's sender without slowing every message to the
// caller, so the buffer is what stands between a fast handler and a slow
// loop.
func ReplyBuffer(n int) RequestOption {
	return replyBufferOption(n)
}

type maxRepliesOption int

func (n maxRepliesOption) applyRequest(o requestOptions) requestOptions {
	o.maxReplies = int(n)
	return o
}

// MaxReplies ends a [Broker.Gather] once n replies have come, before its
// deadline. The default, 0, gathers until the deadline; a negative n is an
// error. [Broker.Request] takes the first reply whatever n is.
func MaxReplies(n int) RequestOption {
	return maxRepliesOption(n)
}

// TokenReply makes [Broker.Request] correlate its reply by a token in the
// topics, the convention of MQTT 3.1.1 platforms such as ThingsBoard
// (request on …/request/{id}, reply on …/response/{id}): it is the way to
// run RPC on MQTT 3.1.1, which has no Response Topic or Correlation Data.
//
// Request publishes to "<topic>/<token>", a fresh random token per request,
// and waits for the message on "<replyPrefix>/<token>". The Broker
// subscribes once to "<replyPrefix>/+" and keeps it; requests run
// concurrently, and a reply that arrives late, twice, or for another
// request's token never answers the wrong request: it is dropped (see
// [Stats].DroppedReplies). The responder replies to the matching topic with
// a pattern and a [ReplyTopic] that names the token:
//
//	b.Subscriber(ctx, "svc/echo/request/{token}", h, mqttrpc.ReplyTopic("svc/echo/response/{token}"))
//	b.Request(ctx, "svc/echo/request", body, mqttrpc.TokenReply("svc/echo/response"))
//
// Every caller subscribed to one reply prefix receives the replies to all
// of them and drops the others'. With many callers, give each its own level,
// as in topic "svc/echo/request/<caller>" and prefix
// "svc/echo/response/<caller>", served by "svc/echo/request/{caller}/{token}"
// replying to "svc/echo/response/{caller}/{token}".
//
// Each reply prefix stays subscribed until [Broker.Close], so use a few
// fixed prefixes, not one per request or per device. Should a server refuse
// it on a new connection (a cluster node may while it recovers from the loss
// of another), the next request on the prefix subscribes again, and fails
// with [ErrRefused] while it is refused.
//
// On MQTT 5 the reply topic is sent as the Response Topic as well, with
// Correlation Data, so responders of either kind answer it.
func TokenReply(replyPrefix string) RequestOption {
	return tokenReplyOption(replyPrefix)
}

type tokenReplyOption string

func (t tokenReplyOption) applyRequest(o requestOptions) requestOptions {
	o.tokenReply = string(t)
	return o
}
