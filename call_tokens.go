package mqttrpc

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/mqttrpc/mqttrpc/internal/ids"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// tokenInbox is the one subscription, "<prefix>/+", on which requests made
// with TokenReply(prefix) wait for their replies.
type tokenInbox struct {
	filter     string
	turn       chan struct{} // capacity 1: held while subscribing
	subscribed atomic.Bool   // on some connection; restore keeps it on later ones, or clears it if refused
}

// tokenRequest readies m, a request to be sent with TokenReply(prefix): it
// adds a fresh token to its topic, sets its reply topic, and makes sure the
// reply prefix is subscribed.
func (b *Broker) tokenRequest(ctx context.Context, m *Message, prefix string) error {
	if m.ReplyTo != "" {
		return fail(ErrInvalidTopic, "ReplyTo and TokenReply both given")
	}
	if err := topic.ValidName(prefix); err != nil {
		return fail(ErrInvalidTopic, "token reply prefix %q: %w", prefix, err)
	}
	if b.isInbox(prefix + "/") {
		return fail(ErrInvalidTopic, "token reply prefix %q is inside the Broker's own inbox", prefix)
	}
	token := ids.Token()
	m.Topic += "/" + token
	m.ReplyTo = prefix + "/" + token
	return b.subscribeTokenInbox(ctx, prefix)
}

// subscribeTokenInbox subscribes "<prefix>/+" unless it already is.
func (b *Broker) subscribeTokenInbox(ctx context.Context, prefix string) error {
	b.replies.mu.Lock()
	ti, ok := b.replies.tokens[prefix]
	if !ok {
		ti = &tokenInbox{filter: prefix + "/+", turn: make(chan struct{}, 1)}
		b.replies.tokens[prefix] = ti // from now on every restore subscribes it too
		b.replies.reindex()
	}
	b.replies.mu.Unlock()
	if ti.subscribed.Load() {
		return nil
	}
	select {
	case ti.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closed:
		return ErrClosed
	}
	defer func() { <-ti.turn }()
	if ti.subscribed.Load() {
		return nil
	}
	if err := b.awaitReady(ctx); err != nil {
		return err
	}
	if err := b.t.subscribe(ctx, []filterSpec{{filter: ti.filter, qos: 2, fresh: true}})[0]; err != nil {
		return err
	}
	ti.subscribed.Store(true)
	return nil
}

// forgetRefused marks the reply topic or token reply prefix whose filter a
// restore was refused as not subscribed, so that the next request on it
// subscribes again, and fails if the broker still refuses, instead of
// waiting out its timeout for a reply that cannot come. A cluster node may
// refuse a subscription only while it recovers from the loss of another.
// Filters of handlers are left alone: a refused handler filter is logged.
func (b *Broker) forgetRefused(filter string) {
	replies := b.replies.index.Load()
	if rt, ok := replies.topics[filter]; ok {
		rt.subscribed.Store(false)
	}
	if prefix, ok := strings.CutSuffix(filter, "/+"); ok {
		if ti, ok := replies.tokens[prefix]; ok {
			ti.subscribed.Store(false)
		}
	}
}
