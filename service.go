package mqttrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/ids"
)

// ServiceConfig is who a service is: what [Broker.Service] announces to
// discovery.
type ServiceConfig struct {
	// Name is required: letters, digits, '-' and '_', as it is a topic level
	// of the discovery topics. Every instance of a service shares it.
	Name string
	// Version is required: a semantic version (https://semver.org), "1.4.2".
	Version string
	// Description says what the service does, for people.
	Description string
	// Metadata is free-form, for tools: a region, a build, an owner.
	Metadata map[string]string
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
		`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
		`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
)

// validate reports every field that cannot work, all at once.
func (c *ServiceConfig) validate() error {
	var errs []error
	if !nameRE.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("name %q: use letters, digits, '-' and '_'", c.Name))
	}
	if !semverRE.MatchString(c.Version) {
		errs = append(errs, fmt.Errorf("version %q is not a semantic version such as 1.0.0", c.Version))
	}
	if err := errors.Join(errs...); err != nil {
		return failWith(ErrInvalidService, err)
	}
	return nil
}

// Service is a named, versioned set of endpoints with an instance id of its
// own, in the spirit of nats micro: each instance answers discovery
// (see [Broker.Service] and [Discover]) and counts what its endpoints serve.
// It is safe for concurrent use.
type Service struct {
	b       *Broker
	cfg     ServiceConfig
	id      string
	started time.Time

	mu        sync.Mutex // guards what follows
	endpoints []*endpoint
	stopped   bool
}

// Service starts an instance of the service cfg describes, with a fresh
// random id, and returns once discovery can find it: unless
// [WithoutDiscovery], it answers PING, INFO and STATS requests on the
// discovery topics (see [Discover] for the scheme). Add its handlers with
// [Service.Endpoint]. It waits at most until ctx ends, or for the connect
// timeout if ctx has no deadline.
//
// The discovery filters are <prefix>/+, <prefix>/+/<name> and
// <prefix>/+/<name>/<id>, shared by the Broker's services: they never
// overlap one another, and overlap a user pattern only if it has a wildcard
// among the prefix's levels ("#", "+/srv/...", "mqttrpc/#"). On MQTT 5 the
// more specific pattern wins as always, and discovery's exact prefix levels
// are the more specific; but on a broker that offers no Subscription
// Identifiers such an overlap is refused, whichever was registered second.
//
// On MQTT 3.1.1, which has no Response Topic, a discovery request names its
// reply topic in its body; an overlap with a user pattern is refused there,
// as on brokers without Subscription Identifiers.
//
// It returns an error wrapping [ErrInvalidService] for an invalid cfg,
// [ErrClosed] once the Broker is closing, or why the broker refused a
// discovery subscription.
func (b *Broker) Service(ctx context.Context, cfg ServiceConfig) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, opError("service", cfg.Name, err)
	}
	cfg.Metadata = maps.Clone(cfg.Metadata)
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]string{}
	}
	svc := &Service{b: b, cfg: cfg, id: ids.Token(), started: time.Now().UTC()}
	if err := b.services.add(ctx, b, svc); err != nil {
		return nil, opError("service", cfg.Name, err)
	}
	return svc, nil
}

// ID returns the instance's id: random, 16 hex digits.
func (s *Service) ID() string { return s.id }

// Name returns the service's name.
func (s *Service) Name() string { return s.cfg.Name }

// Endpoint adds handler h to the service as the endpoint name, serving
// pattern as [Broker.Subscriber] does, with opts (and [EndpointMetadata] and
// [EndpointSchema], which only endpoints take). The endpoint's requests,
// errors and processing time are counted for [Service.Stats] and discovery's
// STATS. The endpoint name is a topic level as the service name is, and
// unique within the service; [Subscription.Unsubscribe] removes the
// endpoint, and frees its name.
//
// The request and response schema names of a [Typed] handler default to its
// Go types' names.
func (s *Service) Endpoint(ctx context.Context, name, pattern string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	if !nameRE.MatchString(name) {
		return nil, opError("service", s.cfg.Name, fail(ErrInvalidService, "endpoint name %q: use letters, digits, '-' and '_'", name))
	}
	ep := &endpoint{service: s.cfg.Name, name: name}
	ep.reset()
	if t, ok := h.(typedSchemas); ok && s.b.cfg.schemaGen != nil {
		var err error
		if ep.requestJSON, ep.responseJSON, err = generateSchemas(s.b.cfg.schemaGen, t); err != nil {
			return nil, opError("service", s.cfg.Name, fail(ErrInvalidService, "endpoint %s: %w", name, err))
		}
	}
	s.mu.Lock()
	switch {
	case s.stopped:
		s.mu.Unlock()
		return nil, opError("service", s.cfg.Name, ErrServiceStopped)
	case slices.ContainsFunc(s.endpoints, func(e *endpoint) bool { return e.name == name && s.live(e) }):
		s.mu.Unlock()
		return nil, opError("service", s.cfg.Name, fail(ErrInvalidService, "it already has an endpoint %q", name))
	}
	s.endpoints = append(slices.DeleteFunc(s.endpoints, func(e *endpoint) bool { return !s.live(e) }), ep)
	s.mu.Unlock()

	sub, err := s.b.Subscriber(ctx, pattern, h, append(slices.Clone(opts), endpointOption{ep})...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.endpoints = slices.DeleteFunc(s.endpoints, func(e *endpoint) bool { return e == ep })
		return nil, err
	}
	ep.sub, ep.metadata = sub, maps.Clone(sub.opts.about.metadata)
	if ep.metadata == nil {
		ep.metadata = map[string]string{}
	}
	ep.requestSchema, ep.responseSchema = sub.opts.about.requestSchema, sub.opts.about.responseSchema
	if a := sub.opts.about; a.requestJSON != nil || a.responseJSON != nil {
		ep.requestJSON, ep.responseJSON = a.requestJSON, a.responseJSON
	}
	if t, ok := h.(typedSchemas); ok {
		if ep.requestSchema == "" && ep.responseSchema == "" {
			ep.requestSchema, ep.responseSchema = t.schemas()
		}
		ep.requestType, ep.responseType = t.types()
	}
	return sub, nil
}

// generateSchemas makes the JSON Schemas of t's request and reply types
// with gen; nil for a type nothing knows (a raw *Message or *Response).
func generateSchemas(gen SchemaGenerator, t typedSchemas) (request, response json.RawMessage, err error) {
	reqType, respType := t.types()
	var errs []error
	for _, x := range []struct {
		t   reflect.Type
		out *json.RawMessage
	}{{reqType, &request}, {respType, &response}} {
		if x.t == nil {
			continue
		}
		s, err := gen(x.t)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("JSON Schema of %v: %w", x.t, err))
		case !json.Valid(s):
			errs = append(errs, fmt.Errorf("JSON Schema of %v: not JSON", x.t))
		default:
			*x.out = s
		}
	}
	return request, response, errors.Join(errs...)
}

// live reports whether e is subscribing or subscribed. Call it with s.mu held.
func (s *Service) live(e *endpoint) bool {
	return e.sub == nil || s.b.routes.Load().has(e.sub)
}

// liveEndpoints returns the endpoints subscribed now.
func (s *Service) liveEndpoints() []*endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*endpoint
	for _, e := range s.endpoints {
		if e.sub != nil && s.live(e) {
			out = append(out, e)
		}
	}
	return out
}

// Stop unsubscribes the service's endpoints and its discovery topics, as
// [Subscription.Unsubscribe] does: requests already taken still run and are
// answered. Discovery stops listing the instance. Calling it again does
// nothing and returns nil; [Broker.Close] stops every service as well.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	eps := s.endpoints
	s.mu.Unlock()
	if s.b.isClosing() { // Close unsubscribes everything itself
		return nil
	}
	var errs []error
	for _, e := range eps {
		if e.sub != nil {
			errs = append(errs, e.sub.Unsubscribe(ctx))
		}
	}
	errs = append(errs, s.b.services.remove(ctx, s))
	return errors.Join(errs...)
}

// Info returns what discovery's INFO answers for the instance.
func (s *Service) Info() ServiceInfo {
	info := ServiceInfo{ServiceIdentity: s.identity(infoType), Description: s.cfg.Description, Endpoints: []EndpointInfo{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.endpoints {
		if e.sub == nil || !s.live(e) {
			continue
		}
		info.Endpoints = append(info.Endpoints, e.info())
	}
	return info
}

// Schemas returns what discovery's SCHEMA answers for the instance: its
// INFO, with the JSON Schemas of each endpoint's request and reply where
// known ([WithSchemaGenerator], [EndpointSchemaJSON]).
func (s *Service) Schemas() ServiceSchemas {
	info := ServiceSchemas{ServiceInfo{ServiceIdentity: s.identity(schemaType), Description: s.cfg.Description, Endpoints: []EndpointInfo{}}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.endpoints {
		if e.sub == nil || !s.live(e) {
			continue
		}
		ei := e.info()
		ei.RequestSchemaJSON, ei.ResponseSchemaJSON = e.requestJSON, e.responseJSON
		info.Endpoints = append(info.Endpoints, ei)
	}
	return info
}

// info describes e for [Service.Info]. Call it with the Service's mu held.
func (e *endpoint) info() EndpointInfo {
	o := e.sub.opts
	info := EndpointInfo{
		Name:                e.name,
		Pattern:             e.sub.raw,
		Filter:              e.sub.filter,
		Metadata:            e.metadata,
		RequestSchema:       e.requestSchema,
		ResponseSchema:      e.responseSchema,
		RequestContentType:  contentTypeOf(e.requestType),
		ResponseContentType: contentTypeOf(e.responseType),
		QoS:                 o.qos,
		NoReply:             o.noReply,
		Streaming:           e.sub.streams,
		Shared:              sharedGroup(e.sub.filter),
		requestType:         e.requestType,
		responseType:        e.responseType,
	}
	if !o.noReply {
		info.ReplyTopic = o.replyTopic
	}
	return info
}

// Stats returns what discovery's STATS answers for the instance: the
// statistics of each endpoint subscribed now, since it was added or since
// [Service.Reset].
func (s *Service) Stats() ServiceStats {
	st := ServiceStats{ServiceIdentity: s.identity(statsType), Started: s.started, Endpoints: []EndpointStats{}}
	for _, e := range s.liveEndpoints() {
		st.Endpoints = append(st.Endpoints, e.stats(e.sub.raw))
	}
	return st
}

// Reset starts the statistics of every endpoint afresh: counts, times and
// last error, with each endpoint's Started set to now. The instance's own
// Started stays when it started.
func (s *Service) Reset() {
	for _, e := range s.liveEndpoints() {
		e.reset()
	}
}

func (s *Service) identity(typ string) ServiceIdentity {
	return ServiceIdentity{Type: typ, Name: s.cfg.Name, ID: s.id, Version: s.cfg.Version, Metadata: s.cfg.Metadata}
}

// The type of each discovery reply, in its "type" field.
const (
	pingType   = "io.mqttrpc.srv.v1.ping_response"
	infoType   = "io.mqttrpc.srv.v1.info_response"
	statsType  = "io.mqttrpc.srv.v1.stats_response"
	schemaType = "io.mqttrpc.srv.v1.schema_response"
)

// ServiceIdentity is the part of every discovery reply that says which
// instance answers (schemas/ping_response.json).
type ServiceIdentity struct {
	Type     string            `json:"type"` // io.mqttrpc.srv.v1.<verb>_response
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Version  string            `json:"version"`
	Metadata map[string]string `json:"metadata"`
}

// ServicePing is the reply to discovery's PING.
type ServicePing struct {
	ServiceIdentity
}

// ServiceInfo is the reply to discovery's INFO (schemas/info_response.json).
type ServiceInfo struct {
	ServiceIdentity
	Description string         `json:"description"`
	Endpoints   []EndpointInfo `json:"endpoints"`
}

// ServiceSchemas is the reply to discovery's SCHEMA
// (schemas/schema_response.json): the INFO reply, with the JSON Schemas of
// the endpoints' requests and replies where the service knows them
// (EndpointInfo's RequestSchemaJSON and ResponseSchemaJSON). INFO leaves
// them out, so that asking a fleet what runs stays cheap; ask SCHEMA of one
// instance per service and version for them.
type ServiceSchemas struct {
	ServiceInfo
}

// EndpointInfo describes an endpoint in [ServiceInfo].
type EndpointInfo struct {
	Name     string            `json:"name"`
	Pattern  string            `json:"pattern"` // as given, with {names}
	Filter   string            `json:"filter"`  // the MQTT topic filter subscribed to
	Metadata map[string]string `json:"metadata"`
	// The names of the request's and reply's JSON schemas, where known
	// (see [EndpointSchema]).
	RequestSchema  string `json:"request_schema,omitempty"`
	ResponseSchema string `json:"response_schema,omitempty"`
	// The content types of the request and the reply a [Typed] handler
	// reads and writes: "application/json", or "text/plain" for a string;
	// empty for raw bytes, a raw handler, or a reply it builds itself.
	RequestContentType  string `json:"request_content_type,omitempty"`
	ResponseContentType string `json:"response_content_type,omitempty"`
	// QoS is the subscription's quality of service (see [QoS]).
	QoS byte `json:"qos,omitempty"`
	// NoReply is set when the endpoint never replies (see [NoReply]).
	NoReply bool `json:"no_reply,omitempty"`
	// Streaming is set when the endpoint streams its responses ([StreamFunc],
	// [TypedStream]): call it with [Broker.Stream].
	Streaming bool `json:"streaming,omitempty"`
	// Shared is the shared subscription group, if any (see [Shared]).
	Shared string `json:"shared,omitempty"`
	// ReplyTopic is where replies go when the request names no Response
	// Topic, with the pattern's {names} (see [ReplyTopic]).
	ReplyTopic string `json:"reply_topic,omitempty"`
	// The JSON Schemas of the request and the reply, each standalone with
	// its definitions under $defs, where known ([WithSchemaGenerator],
	// [EndpointSchemaJSON]): only in a SCHEMA reply ([ServiceSchemas]),
	// never in INFO's.
	RequestSchemaJSON  json.RawMessage `json:"request_schema_json,omitempty"`
	ResponseSchemaJSON json.RawMessage `json:"response_schema_json,omitempty"`

	// The Go types of a Typed handler, known in the process that serves it.
	requestType, responseType reflect.Type
}

// Types returns the Go types of the request and the reply of a [Typed]
// handler: the In and Out of its function. A type is nil where it is not
// known: for a raw handler, a raw *Message or *Response, and in an
// EndpointInfo that came from discovery, as Go types do not travel.
func (e EndpointInfo) Types() (request, response reflect.Type) {
	return e.requestType, e.responseType
}

// ServiceStats is the reply to discovery's STATS
// (schemas/stats_response.json).
type ServiceStats struct {
	ServiceIdentity
	Started   time.Time       `json:"started"`
	Endpoints []EndpointStats `json:"endpoints"`
}

// EndpointStats counts what an endpoint has served since it was added or
// its service was [Service.Reset]. An error is a request whose chain
// returned one: its caller got an error reply. A refused request never
// reached the chain: the endpoint was overloaded or shutting down (503), or
// the request expired while it queued; it is not among Requests. Durations
// are in nanoseconds on the wire.
type EndpointStats struct {
	Name                  string        `json:"name"`
	Pattern               string        `json:"pattern"`
	Requests              uint64        `json:"num_requests"`
	Errors                uint64        `json:"num_errors"`
	Refused               uint64        `json:"num_refused"`
	LastError             string        `json:"last_error"` // "<status> <message>", as the caller saw it
	ProcessingTime        time.Duration `json:"processing_time"`
	AverageProcessingTime time.Duration `json:"average_processing_time"`
	Started               time.Time     `json:"started"`
}

// endpointOption marks a subscription as serving endpoint e.
type endpointOption struct{ e *endpoint }

func (o endpointOption) applySubscribe(so subscribeOptions) subscribeOptions {
	so.endpoint = o.e
	return so
}

// typedSchemas is a handler that knows its request and reply types.
type typedSchemas interface {
	schemas() (request, response string)
	types() (request, response reflect.Type)
}

// typeOf returns T, or nil for a raw *Message or *Response, whose content
// nothing says in advance.
func typeOf[T any]() reflect.Type {
	switch t := reflect.TypeFor[T](); t {
	case reflect.TypeFor[*Message](), reflect.TypeFor[*Response]():
		return nil
	default:
		return t
	}
}

// contentTypeOf returns the content type a body of type t is encoded with,
// as [encode] does: "" for raw bytes and for an unknown type.
func contentTypeOf(t reflect.Type) string {
	switch t {
	case nil, reflect.TypeFor[[]byte]():
		return ""
	case reflect.TypeFor[string]():
		return contentTypeText
	}
	return contentTypeJSON
}

// typeName names T for EndpointInfo: "" for a raw *Message or *Response.
func typeName[T any]() string {
	switch t := reflect.TypeFor[T](); t {
	case reflect.TypeFor[*Message](), reflect.TypeFor[*Response]():
		return ""
	case reflect.TypeFor[[]byte]():
		return "[]byte"
	default:
		return t.String()
	}
}

// ServiceGroup is a set of a service's endpoints that share a topic prefix
// and options, as a [Group] is for subscribers.
type ServiceGroup struct {
	s *Service
	scope
}

// Group returns a group of the service's endpoints under prefix, each made
// with opts before its own. The prefix may hold named levels.
func (s *Service) Group(prefix string, opts ...SubscribeOption) *ServiceGroup {
	return &ServiceGroup{s: s, scope: newScope(prefix, opts)}
}

// Group returns a group nested in g: its prefix follows g's, and its options
// follow g's.
func (g *ServiceGroup) Group(prefix string, opts ...SubscribeOption) *ServiceGroup {
	return &ServiceGroup{s: g.s, scope: g.nest(prefix, opts)}
}

// Endpoint calls [Service.Endpoint] with the group's prefix before pattern
// and the group's options before opts.
func (g *ServiceGroup) Endpoint(ctx context.Context, name, pattern string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	pattern, opts = g.apply(pattern, opts)
	return g.s.Endpoint(ctx, name, pattern, h, opts...)
}
