package mqttrpc

import (
	"context"
	"slices"
	"strings"
)

// Group is a set of subscribers that share a topic prefix and options, in
// the spirit of nats micro's groups: b.Group("site/{site}").Subscriber(ctx,
// "devices/{id}/reboot", h) serves site/{site}/devices/{id}/reboot.
type Group struct {
	b *Broker
	scope
}

// Group returns a group of subscribers under prefix, each made with opts
// before its own options (so [Use] middleware of the group runs outside the
// subscriber's). The prefix may hold named levels.
func (b *Broker) Group(prefix string, opts ...SubscribeOption) *Group {
	return &Group{b: b, scope: newScope(prefix, opts)}
}

// Group returns a group nested in g: its prefix follows g's, and its options
// follow g's.
func (g *Group) Group(prefix string, opts ...SubscribeOption) *Group {
	return &Group{b: g.b, scope: g.nest(prefix, opts)}
}

// Subscriber calls [Broker.Subscriber] with the group's prefix before pattern
// and the group's options before opts.
func (g *Group) Subscriber(ctx context.Context, pattern string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	pattern, opts = g.apply(pattern, opts)
	return g.b.Subscriber(ctx, pattern, h, opts...)
}

// scope is what a group adds to each of its subscribers: a prefix and
// options.
type scope struct {
	prefix string
	opts   []SubscribeOption
}

func newScope(prefix string, opts []SubscribeOption) scope {
	return scope{prefix: strings.TrimSuffix(prefix, "/"), opts: opts}
}

// nest returns the scope of a group under s.
func (s scope) nest(prefix string, opts []SubscribeOption) scope {
	return scope{prefix: s.prefix + "/" + strings.TrimSuffix(prefix, "/"), opts: slices.Concat(s.opts, opts)}
}

// apply returns pattern under the scope's prefix, and its options after the
// scope's.
func (s scope) apply(pattern string, opts []SubscribeOption) (string, []SubscribeOption) {
	return s.prefix + "/" + pattern, slices.Concat(s.opts, opts)
}
