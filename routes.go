package mqttrpc

import (
	"cmp"
	"slices"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// routes is the handler table as the dispatcher reads it: replaced whole on
// every change, under Broker.mu, and read without a lock.
type routes struct {
	subs []*Subscription       // most specific filter first
	byID map[int]*Subscription // by every Subscription Identifier given out
}

// match returns the subscription that serves m: the most specific whose
// filter matches among those the broker has acknowledged. A subscription
// still awaiting its SUBACK serves only what can have come through it alone:
// a retained message (sent to a new subscription only), a message no other
// subscription matches, and, where filters cannot overlap, any message.
func (r *routes) match(m *Message) (s, owner *Subscription) {
	owner = r.byID[m.subID]
	var pending *Subscription
	for _, s := range r.subs {
		if !topic.Match(s.filter, m.Topic) {
			continue
		}
		if s.active.Load() || m.subID == 0 || s == owner && m.Retain {
			return s, owner
		}
		if s == owner {
			pending = s
		}
	}
	return pending, owner
}

// has reports whether s is in the table.
func (r *routes) has(s *Subscription) bool {
	return slices.Contains(r.subs, s)
}

// filters lists the filters of every subscription.
func (r *routes) filters() []string {
	out := make([]string, len(r.subs))
	for i, s := range r.subs {
		out[i] = s.filter
	}
	return out
}

// moreSpecific orders subscriptions for routes.subs: by filter, and between
// filters that tie (one shared, one not), the later one first, which has the
// higher identifier.
func moreSpecific(a, b *Subscription) int {
	if c := topic.Compare(b.filter, a.filter); c != 0 {
		return c
	}
	return cmp.Compare(b.id, a.id)
}

// addSubscription puts s in the handler table and returns what to subscribe:
// s last, after any subscriptions raised for it. With Subscription
// Identifiers, it gives s the next one and returns the subscriptions that
// must be subscribed again with higher ones: those more specific than s that
// overlap it, directly or through each other. Identifiers then grow with
// specificity among overlapping filters, so that a broker that sends one copy
// tagged with the highest identifier tags it with the winner's. Without
// identifiers, a filter that overlaps another is refused: nothing would tell
// which handler a message is for, and some brokers send it once per filter.
func (b *Broker) addSubscription(s *Subscription) ([]subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosing() {
		return nil, ErrClosed
	}
	old := b.routes.Load()
	ids := b.t.subscriptionIDs()
	for _, other := range old.subs {
		switch {
		case other.filter == s.filter:
			return nil, ErrHandlerExists
		case answers(s, other):
			return nil, loopError(s, other)
		case answers(other, s):
			return nil, loopError(other, s)
		case !ids && topic.Overlap(other.filter, s.filter):
			return nil, fail(ErrFeatureNotSupported, "filter %q overlaps %q, and without MQTT 5 Subscription Identifiers a message cannot be routed to one of them",
				s.filter, other.filter)
		}
	}
	r := &routes{subs: append(slices.Clone(old.subs), s), byID: old.byID}
	var raised []*Subscription
	if ids {
		raised = raise(old.subs, s)
		r.byID = make(map[int]*Subscription, len(old.byID)+len(raised)+1)
		for id, sub := range old.byID {
			r.byID[id] = sub
		}
		for _, sub := range append([]*Subscription{s}, raised...) {
			b.lastSubID++
			sub.id = b.lastSubID
			r.byID[sub.id] = sub
		}
	}
	slices.SortStableFunc(r.subs, moreSpecific)
	b.routes.Store(r)
	return subscriptionsOf(append(raised, s)), nil
}

// raise returns the subscriptions more specific than s that overlap s or one
// another of them, least specific first.
func raise(subs []*Subscription, s *Subscription) []*Subscription {
	var out []*Subscription
	for changed := true; changed; {
		changed = false
		for _, sub := range subs {
			if slices.Contains(out, sub) || topic.Compare(sub.filter, s.filter) <= 0 {
				continue
			}
			if topic.Overlap(sub.filter, s.filter) || slices.ContainsFunc(out, func(o *Subscription) bool {
				return topic.Overlap(sub.filter, o.filter)
			}) {
				out, changed = append(out, sub), true
			}
		}
	}
	slices.SortFunc(out, func(a, b *Subscription) int { return moreSpecific(b, a) })
	return out
}

// removeSubscription takes s out of the handler table. Its identifiers stay
// known, so that copies still on their way are recognised as copies.
func (b *Broker) removeSubscription(s *Subscription) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.routes.Load()
	i := slices.Index(old.subs, s)
	if i < 0 {
		return false
	}
	b.routes.Store(&routes{subs: slices.Delete(slices.Clone(old.subs), i, i+1), byID: old.byID})
	return true
}

// answers reports whether b serves the replies a sends to its reply topic.
// loopError says why a handler whose replies go to another's filter is
// refused.
func loopError(from, to *Subscription) error {
	return fail(ErrInvalidTopic, "the handler on %q replies to %q, which the handler on %q serves: they would answer each other's replies",
		from.filter, from.opts.replyTopic, to.filter)
}

func answers(a, b *Subscription) bool {
	return a.reply != nil && !a.opts.noReply && !b.opts.noReply && topic.Overlap(b.filter, a.reply.Filter())
}
