package mqttrpc

import (
	"cmp"
	"slices"

	"github.com/mqttrpc/mqttrpc/internal/pmap"
	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// routes is the handler table as the dispatcher reads it: replaced whole on
// every change, under Broker.mu, and read without a lock.
//
// Replacing it whole does not copy it: its parts are persistent (see
// [topic.Tree] and [pmap.Map]), so a new table shares all but the nodes on
// the changed filter's path with the old one, and costs O(levels × log n)
// to make however many handlers there are. A reader holding a table sees
// it as it was made, and a changed table is a different pointer, which
// dropUnserved relies on.
type routes struct {
	tree topic.Tree[*Subscription] // by filter
	// replies has the subscriptions whose replies a handler could take for
	// requests, by their reply topic's filter: those with a ReplyTopic
	// that reply (see answers).
	replies topic.Tree[*Subscription]
	byID    pmap.Map[int, *Subscription] // by every Subscription Identifier given out
}

// match returns the subscription that serves m: the most specific whose
// filter matches among those the broker has acknowledged. A subscription
// still awaiting its SUBACK serves only what can have come through it alone:
// a retained message (sent to a new subscription only), a message no other
// subscription matches, and, where filters cannot overlap, any message.
func (r *routes) match(m *Message) (s, owner *Subscription) {
	owner, _ = r.byID.Get(m.subID)
	var pending *Subscription
	r.tree.Match(m.Topic, func(c *Subscription) bool { // most specific first
		if c.active.Load() || m.subID == 0 || c == owner && m.Retain {
			s = c
			return false
		}
		if c == owner {
			pending = c
		}
		return true
	})
	if s != nil {
		return s, owner
	}
	return pending, owner
}

// has reports whether s is in the table.
func (r *routes) has(s *Subscription) bool {
	return slices.Contains(r.tree.Get(s.filter), s)
}

// serves reports whether a subscription in the table has filter.
func (r *routes) serves(filter string) bool {
	return r.get(filter) != nil
}

// get returns the subscription with filter, or nil.
func (r *routes) get(filter string) *Subscription {
	for _, s := range r.tree.Get(filter) { // those equal but for $share/group/
		if s.filter == filter {
			return s
		}
	}
	return nil
}

// len returns the number of subscriptions.
func (r *routes) len() int { return r.tree.Len() }

// sorted returns every subscription, the most specific filter first: the
// order in which a broker that tags a message with the highest identifier
// must learn of them.
func (r *routes) sorted() []*Subscription {
	out := make([]*Subscription, 0, r.tree.Len())
	r.tree.All(func(s *Subscription) bool {
		out = append(out, s)
		return true
	})
	slices.SortFunc(out, moreSpecific)
	return out
}

// filters lists the filters of every subscription, the most specific first.
func (r *routes) filters() []string {
	subs := r.sorted()
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.filter
	}
	return out
}

// moreSpecific orders subscriptions most specific first: by filter, and
// between filters that tie (one shared, one not), the later one first,
// which has the higher identifier.
func moreSpecific(a, b *Subscription) int {
	if c := topic.Compare(b.filter, a.filter); c != 0 {
		return c
	}
	return cmp.Compare(b.id, a.id)
}

// overlapping returns the subscriptions whose filters overlap filter.
func (r *routes) overlapping(filter string) []*Subscription {
	var out []*Subscription
	r.tree.Overlapping(filter, func(s *Subscription) bool {
		out = append(out, s)
		return true
	})
	return out
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
//
// b.mu is held only while the table is read and replaced, which takes time
// in the number of levels and of the filters s overlaps, not of handlers:
// concurrent callers each send their SUBSCRIBE without waiting for
// another's SUBACK.
func (b *Broker) addSubscription(s *Subscription) ([]filterSpec, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isClosing() {
		return nil, ErrClosed
	}
	old := b.routes.Load()
	ids := b.t.subscriptionIDs()
	if err := old.conflict(s, ids); err != nil {
		return nil, err
	}
	r := &routes{tree: old.tree.Insert(s.filter, s), replies: old.replies, byID: old.byID}
	if replies(s) {
		r.replies = old.replies.Insert(s.reply.Filter(), s)
	}
	var raised []*Subscription
	if ids {
		raised = old.raise(s)
		for _, sub := range append([]*Subscription{s}, raised...) {
			b.lastSubID++
			sub.id = b.lastSubID
			r.byID = r.byID.Set(sub.id, sub)
		}
	}
	b.routes.Store(r)
	return filterSpecs(append(raised, s)), nil
}

// conflict returns why s cannot join the table, or nil. Where several
// subscriptions conflict with s, it names the first in table order, most
// specific first, as a scan of the whole table would.
func (r *routes) conflict(s *Subscription, ids bool) error {
	var others []*Subscription
	if other := r.get(s.filter); other != nil {
		others = append(others, other)
	}
	if replies(s) { // answers(s, other)
		others = append(others, r.overlapping(s.reply.Filter())...)
	}
	if !s.opts.noReply { // answers(other, s)
		r.replies.Overlapping(s.filter, func(o *Subscription) bool {
			others = append(others, o)
			return true
		})
	}
	if !ids {
		others = append(others, r.overlapping(s.filter)...)
	}
	slices.SortFunc(others, moreSpecific)
	for _, other := range others {
		switch {
		case other.filter == s.filter:
			return ErrHandlerExists
		case answers(s, other):
			return loopError(s, other)
		case answers(other, s):
			return loopError(other, s)
		case !ids && topic.Overlap(other.filter, s.filter):
			return fail(ErrFeatureNotSupported, "filter %q overlaps %q, and without MQTT 5 Subscription Identifiers a message cannot be routed to one of them",
				s.filter, other.filter)
		}
	}
	return nil
}

// raise returns the subscriptions more specific than s that overlap s or one
// another of them, least specific first. It follows overlaps out from s, so
// it costs as much as the filters it finds.
func (r *routes) raise(s *Subscription) []*Subscription {
	var out []*Subscription
	seen := map[*Subscription]bool{}
	for next := []string{s.filter}; len(next) > 0; {
		f := next[len(next)-1]
		next = next[:len(next)-1]
		for _, sub := range r.overlapping(f) {
			if !seen[sub] && topic.Compare(sub.filter, s.filter) > 0 {
				seen[sub] = true
				out = append(out, sub)
				next = append(next, sub.filter)
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
	tree, ok := old.tree.Delete(s.filter, s)
	if !ok {
		return false
	}
	r := &routes{tree: tree, replies: old.replies, byID: old.byID}
	if replies(s) {
		r.replies, _ = old.replies.Delete(s.reply.Filter(), s)
	}
	b.routes.Store(r)
	return true
}

// loopError says why a handler whose replies go to another's filter is
// refused.
func loopError(from, to *Subscription) error {
	return fail(ErrInvalidTopic, "the handler on %q replies to %q, which the handler on %q serves: they would answer each other's replies",
		from.filter, from.opts.replyTopic, to.filter)
}

// answers reports whether b serves the replies a sends to its reply topic.
func answers(a, b *Subscription) bool {
	return replies(a) && !b.opts.noReply && topic.Overlap(b.filter, a.reply.Filter())
}

// replies reports whether s sends replies to a ReplyTopic of its own.
func replies(s *Subscription) bool {
	return s.reply != nil && !s.opts.noReply
}
