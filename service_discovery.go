package mqttrpc

import (
	"context"
	"encoding/json"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// DefaultDiscoveryPrefix is the topic prefix of discovery unless
// [WithDiscoveryPrefix] sets another.
const DefaultDiscoveryPrefix = "mqttrpc/srv"

// The discovery verbs: the level after the prefix in a discovery topic.
const (
	VerbPing  = "PING"
	VerbInfo  = "INFO"
	VerbStats = "STATS"
	// VerbSchema asks for INFO with the endpoints' JSON Schemas
	// ([ServiceSchemas]): larger, so ask it of one instance.
	VerbSchema = "SCHEMA"
)

func validDiscoveryPrefix(prefix string) error {
	if err := topic.ValidName(prefix); err != nil {
		return fail(ErrInvalidTopic, "discovery prefix %q: %w", prefix, err)
	}
	if strings.HasPrefix(prefix, "$") {
		return fail(ErrInvalidTopic, "discovery prefix %q starts with '$', which MQTT reserves for brokers", prefix)
	}
	return nil
}

// discovers reports whether the Broker's services answer discovery.
func (b *Broker) discovers() bool {
	return !b.cfg.noDiscovery
}

// discoveryRequest is the body of a discovery request: it names the topic
// to answer on (schemas/discovery_request.json) for services on MQTT 3.1.1,
// which see no Response Topic. An MQTT 5 request sends it too, beside its
// Response Topic, which MQTT 5 services answer instead.
type discoveryRequest struct {
	ReplyTo string `json:"reply_to"`
}

// bodyReply makes a request name its reply topic in its body, as discovery
// requests do.
type bodyReply struct{}

func (bodyReply) applyRequest(o requestOptions) requestOptions {
	o.bodyReply = true
	return o
}

// replyTopicOf returns where to answer the discovery request m: its
// Response Topic, else the topic its body names.
func replyTopicOf(m *Message) string {
	if m.ReplyTo != "" {
		return m.ReplyTo
	}
	var req discoveryRequest
	if json.Unmarshal(m.Body, &req) != nil {
		return ""
	}
	return req.ReplyTo
}

// serviceRegistry is the Broker's services, and the discovery subscriptions
// they share: <prefix>/+ for all of them, <prefix>/+/<name> for each name,
// <prefix>/+/<name>/<id> for each instance. No two of these filters overlap,
// so MQTT 3.1.1's rule against overlaps would not bite, and a user pattern
// overlaps them only if it has a wildcard in one of the prefix's levels.
type serviceRegistry struct {
	change  sync.Mutex                        // serialises add and remove, which subscribe; held over network calls
	filters map[string]*discoverySubscription // guarded by change

	mu       sync.Mutex // guards services
	services []*Service
}

// discoverySubscription is one discovery filter and how many services use it.
type discoverySubscription struct {
	sub   *Subscription
	users int
}

// discoveryFilters returns the filters svc answers discovery on.
func (b *Broker) discoveryFilters(svc *Service) []string {
	p := b.cfg.discovery + "/+"
	return []string{p, p + "/" + svc.cfg.Name, p + "/" + svc.cfg.Name + "/" + svc.id}
}

// add registers svc and subscribes the discovery filters it needs that no
// other service has subscribed yet.
func (r *serviceRegistry) add(ctx context.Context, b *Broker, svc *Service) error {
	r.change.Lock()
	defer r.change.Unlock()
	if b.isClosing() {
		return ErrClosed
	}
	r.mu.Lock()
	r.services = append(r.services, svc) // first: a PING right after the SUBACK finds it
	r.mu.Unlock()
	if !b.discovers() {
		return nil
	}
	var added []string
	for _, f := range b.discoveryFilters(svc) {
		if err := r.acquire(ctx, b, f); err != nil {
			for _, a := range added {
				r.release(ctx, a)
			}
			r.forget(svc)
			return err // Subscriber's error names the discovery filter
		}
		added = append(added, f)
	}
	return nil
}

// remove forgets svc and unsubscribes the discovery filters no other
// service needs.
func (r *serviceRegistry) remove(ctx context.Context, svc *Service) error {
	r.change.Lock()
	defer r.change.Unlock()
	if !r.forget(svc) || !svc.b.discovers() {
		return nil
	}
	var first error
	for _, f := range svc.b.discoveryFilters(svc) {
		if err := r.release(ctx, f); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (r *serviceRegistry) forget(svc *Service) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.services)
	// A new slice: list's callers read the old one without the lock.
	r.services = slices.DeleteFunc(slices.Clone(r.services), func(s *Service) bool { return s == svc })
	return len(r.services) < n
}

// acquire subscribes filter f for discovery unless it already is. Call it
// with r.change held.
func (r *serviceRegistry) acquire(ctx context.Context, b *Broker, f string) error {
	if ds := r.filters[f]; ds != nil {
		ds.users++
		return nil
	}
	// NoReply: the handler answers by itself, once per service it speaks for.
	sub, err := b.Subscriber(ctx, f, HandlerFunc(b.serveDiscovery), QoS(1), NoReply(), internalOption{})
	if err != nil {
		return err
	}
	if r.filters == nil {
		r.filters = make(map[string]*discoverySubscription)
	}
	r.filters[f] = &discoverySubscription{sub: sub, users: 1}
	return nil
}

// release unsubscribes filter f once no service uses it. Call it with
// r.change held.
func (r *serviceRegistry) release(ctx context.Context, f string) error {
	ds := r.filters[f]
	if ds == nil {
		return nil
	}
	if ds.users--; ds.users > 0 {
		return nil
	}
	delete(r.filters, f)
	return ds.sub.Unsubscribe(ctx)
}

// Services returns the Broker's services that run now, in the order they
// were started: those [Service.Stop] has stopped are gone, and once
// [Broker.Close] has begun there are none.
func (b *Broker) Services() []*Service {
	if b.isClosing() {
		return nil
	}
	return slices.Clone(b.services.list())
}

// list returns the registered services.
func (r *serviceRegistry) list() []*Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.services
}

type internalOption struct{}

func (internalOption) applySubscribe(o subscribeOptions) subscribeOptions {
	o.internal = true
	return o
}

// serveDiscovery answers a discovery request with one reply per service of
// the Broker it names, sent as each is ready.
func (b *Broker) serveDiscovery(_ context.Context, m *Message) (*Response, error) {
	rest, _ := strings.CutPrefix(m.Topic, b.cfg.discovery+"/")
	levels := strings.Split(rest, "/")
	verb, name, id := levels[0], "", ""
	if len(levels) > 1 {
		name = levels[1]
	}
	if len(levels) > 2 {
		id = levels[2]
	}
	to := replyTopicOf(m)
	var reply func(*Service) any
	switch verb {
	case VerbPing:
		reply = func(s *Service) any { return ServicePing{s.identity(pingType)} }
	case VerbInfo:
		reply = func(s *Service) any { return s.Info() }
	case VerbStats:
		reply = func(s *Service) any { return s.Stats() }
	case VerbSchema:
		reply = func(s *Service) any { return s.Schemas() }
	default:
		b.send(b.replyMessage(m, to, nil,
			Errorf(StatusNotFound, "unknown discovery verb %q: use PING, INFO, STATS or SCHEMA", verb)), m)
		return nil, nil
	}
	for _, s := range b.services.list() {
		if name != "" && s.cfg.Name != name || id != "" && s.id != id {
			continue
		}
		b.send(b.replyMessage(m, to, &Response{Body: reply(s)}, nil), m)
	}
	return nil, nil
}

// DiscoveryTopic returns the topic a discovery request for verb goes to:
// <prefix>/<verb> asks every service, <prefix>/<verb>/<name> every instance
// of one service, <prefix>/<verb>/<name>/<id> one instance. It returns an
// error wrapping [ErrInvalidService] for an id without a name, or a name or
// id that is not one topic level.
func DiscoveryTopic(prefix, verb, name, id string) (string, error) {
	switch {
	case id != "" && name == "":
		return "", fail(ErrInvalidService, "an instance id needs its service name")
	case name != "" && !nameRE.MatchString(name):
		return "", fail(ErrInvalidService, "service name %q: use letters, digits, '-' and '_'", name)
	case id != "" && !nameRE.MatchString(id):
		return "", fail(ErrInvalidService, "instance id %q: use letters, digits, '-' and '_'", id)
	}
	t := prefix + "/" + verb
	for _, level := range []string{name, id} {
		if level != "" {
			t += "/" + level
		}
	}
	return t, nil
}

// discoveryTemplate names a discovery topic for a [Hook]: the service and
// instance as names, which a fleet has many of.
func discoveryTemplate(prefix, verb, name, id string) templateOption {
	t := prefix + "/" + verb
	if name != "" {
		t += "/{name}"
	}
	if id != "" {
		t += "/{id}"
	}
	return templateOption(t)
}

// Discover asks the services on the MQTT broker who they are (T
// [ServicePing]), what they serve ([ServiceInfo]) or how it went
// ([ServiceStats]), or what it serves with the JSON Schemas of its
// endpoints' bodies ([ServiceSchemas]: larger, so best asked of one
// instance), and yields each instance's reply as it comes. name ""
// asks every service, and id "" every instance of the named one. It gathers
// as [Broker.Gather] does, until the request's deadline or [MaxReplies]
// (which an id sets to 1); opts are Gather's.
//
// The scheme, for any MQTT 5 client: publish an empty request with a
// Response Topic to <prefix>/<VERB>, <prefix>/<VERB>/<name> or
// <prefix>/<VERB>/<name>/<id>, where <prefix> is "mqttrpc/srv" unless
// [WithDiscoveryPrefix] says otherwise and <VERB> is PING, INFO, STATS or
// SCHEMA;
// each instance answers with one JSON reply, whose schemas are in the
// repository's schemas/ directory. An unknown verb is answered with a 404.
// MQTT 3.1.1 has no Response Topic: there the request's body names the
// reply topic, {"reply_to": "<topic>"}, on a topic of the Broker's inbox.
// Discover sends that body on both versions, so that it reaches every
// service, each once, whichever version the service and the caller speak:
// an MQTT 5 service answers the Response Topic, a 3.1.1 one the body's
// topic. An unknown verb gets no answer on MQTT 3.1.1.
//
// A reply that does not decode into T is yielded as an error, and so is a
// *[RemoteError]; the sequence goes on after either.
func Discover[T ServicePing | ServiceInfo | ServiceStats | ServiceSchemas](ctx context.Context, b *Broker, name, id string, opts ...RequestOption) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		var verb string
		switch any((*T)(nil)).(type) {
		case *ServicePing:
			verb = VerbPing
		case *ServiceInfo:
			verb = VerbInfo
		case *ServiceStats:
			verb = VerbStats
		case *ServiceSchemas:
			verb = VerbSchema
		}
		t, err := DiscoveryTopic(b.cfg.discovery, verb, name, id)
		if err != nil {
			yield(nil, err)
			return
		}
		opts = append([]RequestOption{bodyReply{}, discoveryTemplate(b.cfg.discovery, verb, name, id)}, opts...)
		if id != "" {
			opts = append([]RequestOption{MaxReplies(1)}, opts...)
		}
		for m, err := range b.Gather(ctx, t, nil, opts...) {
			if err == nil {
				v := new(T)
				if err = m.Decode(v); err == nil {
					if !yield(v, nil) {
						return
					}
					continue
				}
				err = opError("discover", t, err)
			}
			if !yield(nil, err) {
				return
			}
		}
	}
}
