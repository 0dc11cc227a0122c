package mqttrpc

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
)

// maxIdleReplyTopics bounds the explicit reply topics (see [ReplyTo]) that
// stay subscribed while no request uses them; beyond it, the least recently
// used is unsubscribed.
const maxIdleReplyTopics = 32

// replyTopic is an explicit reply topic: subscribed on first use, lent to
// one request at a time, and kept for the next while it is among the most
// recently used.
type replyTopic struct {
	name string
	turn chan struct{} // capacity 1: whoever sent into it owns the topic
	// subscribed is set by the owner of turn once it has subscribed, and
	// cleared when a new connection refuses it (see forgetRefused).
	subscribed atomic.Bool

	users    int  // requests holding or awaiting the turn; guarded by Broker.mu
	evicting bool // being unsubscribed, with the turn; guarded by Broker.mu
}

// acquireReplyTopic waits for its turn on the valid reply topic name,
// subscribing to it if needed. The caller ends the turn with releaseReplyTopic.
func (b *Broker) acquireReplyTopic(ctx context.Context, name string) (*replyTopic, error) {
	if b.isInbox(name) {
		return nil, fmt.Errorf("%w: reply topic %q is inside the Broker's own inbox", ErrInvalidTopic, name)
	}
	b.mu.Lock()
	rt, ok := b.replyTopics[name]
	if !ok {
		rt = &replyTopic{name: name, turn: make(chan struct{}, 1)}
		b.replyTopics[name] = rt
	}
	if rt.users++; rt.users == 1 {
		b.idleReplyTopics = slices.DeleteFunc(b.idleReplyTopics, func(idle *replyTopic) bool { return idle == rt })
	}
	b.mu.Unlock()

	select {
	case rt.turn <- struct{}{}:
	case <-ctx.Done():
		b.leaveReplyTopic(rt)
		return nil, ctx.Err()
	case <-b.closed:
		b.leaveReplyTopic(rt)
		return nil, ErrClosed
	}
	if rt.subscribed.Load() {
		return rt, nil
	}
	err := b.awaitReady(ctx)
	if err == nil {
		err = b.t.subscribe(ctx, []subscription{{filter: name, qos: 2, fresh: true}})[0]
	}
	if err != nil {
		b.releaseReplyTopic(rt)
		return nil, err
	}
	rt.subscribed.Store(true)
	return rt, nil
}

// releaseReplyTopic ends the turn taken by acquireReplyTopic, if rt is not nil.
func (b *Broker) releaseReplyTopic(rt *replyTopic) {
	if rt == nil {
		return
	}
	<-rt.turn
	b.leaveReplyTopic(rt)
}

// leaveReplyTopic counts a user out of rt, and unsubscribes the least
// recently used idle reply topic when too many are idle.
func (b *Broker) leaveReplyTopic(rt *replyTopic) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rt.users--; rt.users > 0 || rt.evicting {
		return
	}
	b.idleReplyTopics = append(b.idleReplyTopics, rt)
	if len(b.idleReplyTopics) <= maxIdleReplyTopics {
		return
	}
	oldest := b.idleReplyTopics[0]
	b.idleReplyTopics = slices.Delete(b.idleReplyTopics, 0, 1)
	oldest.evicting = true
	oldest.turn <- struct{}{} // free, as it has no users: the next one waits for the unsubscribe
	if !b.restores.add() {    // closing: the connection goes anyway
		delete(b.replyTopics, oldest.name)
		return
	}
	go b.evictReplyTopic(oldest) // ends when the broker answers, or at the request timeout
}

// evictReplyTopic unsubscribes rt, whose turn it holds, and forgets it
// unless a request has come for it meanwhile.
func (b *Broker) evictReplyTopic(rt *replyTopic) {
	defer b.restores.done()
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.requestTimeout)
	defer cancel()
	if err := b.t.unsubscribe(ctx, rt.name); err != nil {
		b.log.Debug("mqttrpc: unsubscribing an idle reply topic", "topic", rt.name, "err", err)
	}
	rt.subscribed.Store(false)
	b.mu.Lock()
	rt.evicting = false
	if rt.users == 0 {
		delete(b.replyTopics, rt.name)
	}
	b.mu.Unlock()
	<-rt.turn
}
