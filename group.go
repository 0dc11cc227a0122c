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
	b      *Broker
	prefix string
	opts   []SubscribeOption
}

// Group returns a group of subscribers under prefix, each made with opts
// before its own options (so [Use] middleware of the group runs outside the
// subscriber's). The prefix may hold named levels.
func (b *Broker) Group(prefix string, opts ...SubscribeOption) *Group {
	return &Group{b: b, prefix: strings.TrimSuffix(prefix, "/"), opts: opts}
}

// Group returns a group nested in g: its prefix follows g's, and its options
// follow g's.
func (g *Group) Group(prefix string, opts ...SubscribeOption) *Group {
	return &Group{b: g.b, prefix: g.prefix + "/" + strings.TrimSuffix(prefix, "/"), opts: slices.Concat(g.opts, opts)}
}

// Subscriber calls [Broker.Subscriber] with the group's prefix before pattern
// and the group's options before opts.
func (g *Group) Subscriber(ctx context.Context, pattern string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	return g.b.Subscriber(ctx, g.prefix+"/"+pattern, h, slices.Concat(g.opts, opts)...)
}
