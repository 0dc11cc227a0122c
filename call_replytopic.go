package mqttrpc

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// replyState is what the Broker knows of the reply topics its callers name:
// explicit [ReplyTo] topics and [TokenReply] prefixes. Its lock is its own;
// the dispatcher and the restore of a connection read only its index,
// without a lock.
type replyState struct {
	mu     sync.Mutex             // guards what follows
	topics map[string]*replyTopic // by name
	idle   []*replyTopic          // without users, least recently used first
	tokens map[string]*tokenInbox // by reply prefix

	index atomic.Pointer[replyIndex]
}

// replyIndex names what replyState holds, replaced whole on every change:
// once per reply topic or prefix, not per request.
type replyIndex struct {
	topics map[string]*replyTopic
	tokens map[string]*tokenInbox // by prefix
}

func (r *replyState) init() {
	r.topics = make(map[string]*replyTopic)
	r.tokens = make(map[string]*tokenInbox)
	r.index.Store(&replyIndex{})
}

// reindex replaces the index after a change. r.mu is held.
func (r *replyState) reindex() {
	r.index.Store(&replyIndex{topics: maps.Clone(r.topics), tokens: maps.Clone(r.tokens)})
}

// has reports whether name is a reply topic: an explicit one, or a level
// under a token prefix.
func (r *replyIndex) has(name string) bool {
	if _, ok := r.topics[name]; ok {
		return true
	}
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return false
	}
	_, ok := r.tokens[name[:i]]
	return ok
}

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

	users    int  // requests holding or awaiting the turn; guarded by replyState.mu
	evicting bool // being unsubscribed, with the turn; guarded by replyState.mu

	// ordered is set where nothing in a reply says which request it
	// answers (MQTT 3.1.1): the topic then owes a reply for each request
	// that ended without its own, so that the late one answers no other.
	ordered bool
	owed    owedReply     // guarded by replyState.mu
	paid    chan struct{} // capacity 1: an owed reply came, for the holder waiting on it

	// The request holding the turn: set and read by its goroutine only.
	bound      time.Duration // how long a reply it owes may come (see acquireReplyTopic)
	unanswered bool          // it may have been published, and no reply has come
}

// owedReply is a reply that a reply topic still owes: its request ended
// without it (timeout, cancel, lost connection) after it may have been
// published. The next reply to arrive with no request waiting is that one
// and is dropped. A holder waits for it before publishing (see
// awaitOwedReply), for at most bound after start.
type owedReply struct {
	owing bool
	bound time.Duration // how long after start the reply may come
	// start is when the broker was known to have had the request: the reply
	// to a fence sent after it, on connection gen. Zero until then.
	start time.Time
	gen   int
}

// owes reports whether o is still owed on connection gen at now: always
// while no fence on gen has answered, and for bound after one has.
func (o owedReply) owes(now time.Time, gen int) bool {
	return o.owing && (o.start.IsZero() || o.gen != gen || now.Before(o.start.Add(o.bound)))
}

// acquireReplyTopic waits for its turn on the valid reply topic name,
// subscribing to it if needed. The caller ends the turn with releaseReplyTopic.
func (b *Broker) acquireReplyTopic(ctx context.Context, name string) (*replyTopic, error) {
	if b.isInbox(name) {
		return nil, fail(ErrInvalidTopic, "reply topic %q is inside the Broker's own inbox", name)
	}
	// How long a reply owed for this request may be waited for (see
	// awaitOwedReply): its own time to run, and no less than the Broker's
	// request timeout, as a handler slower than its caller's timeout, or a
	// backlog behind a stall, answers later than the caller waited.
	bound := b.cfg.requestTimeout
	if deadline, ok := ctx.Deadline(); ok && !b.t.properties() {
		bound = max(bound, time.Until(deadline))
	}
	b.replies.mu.Lock()
	rt, ok := b.replies.topics[name]
	if !ok {
		rt = &replyTopic{name: name, turn: make(chan struct{}, 1), ordered: !b.t.properties(), paid: make(chan struct{}, 1)}
		b.replies.topics[name] = rt
		b.replies.reindex()
	}
	if rt.users++; rt.users == 1 {
		b.replies.idle = slices.DeleteFunc(b.replies.idle, func(idle *replyTopic) bool { return idle == rt })
	}
	b.replies.mu.Unlock()

	select {
	case rt.turn <- struct{}{}:
	case <-ctx.Done():
		b.leaveReplyTopic(rt)
		return nil, ctx.Err()
	case <-b.closed:
		b.leaveReplyTopic(rt)
		return nil, ErrClosed
	}
	var err error
	if !rt.subscribed.Load() {
		err = b.awaitReady(ctx)
		if err == nil {
			err = b.t.subscribe(ctx, []filterSpec{{filter: name, qos: 2, fresh: true}})[0]
		}
		if err == nil {
			rt.subscribed.Store(true)
		}
	}
	if err == nil && rt.ordered {
		rt.bound, rt.unanswered = bound, false
		err = b.awaitOwedReply(ctx, rt)
	}
	if err != nil {
		b.releaseReplyTopic(rt)
		return nil, err
	}
	return rt, nil
}

// releaseReplyTopic ends the turn taken by acquireReplyTopic, if rt is not
// nil. If the holder's request may have gone out and got no reply, the
// topic owes that reply from now on.
func (b *Broker) releaseReplyTopic(rt *replyTopic) {
	if rt == nil {
		return
	}
	if rt.unanswered {
		rt.unanswered = false
		b.replies.mu.Lock()
		rt.owed = owedReply{owing: true, bound: rt.bound}
		b.replies.mu.Unlock()
	}
	<-rt.turn
	b.leaveReplyTopic(rt)
}

// sending marks the holder's request as one that may be on its way, just
// before it is published. rt may be nil: no reply topic of the caller's.
func (rt *replyTopic) sending() {
	if rt != nil && rt.ordered {
		rt.unanswered = true
	}
}

// answered marks the holder's request as done with: it got a reply, or it
// was never sent. rt may be nil.
func (rt *replyTopic) answered() {
	if rt != nil {
		rt.unanswered = false
	}
}

// awaitOwedReply waits, for the holder of rt's turn and before it
// publishes, until rt owes no reply: the owed one has come (and was
// dropped, see payOwedReply) or can no longer be expected. Publishing
// before would leave two replies on their way, and whichever came first
// would be taken, not necessarily the right one.
//
// A reply is expected for as long as its request was given to run, and at
// least the Broker's request timeout, counted from when the broker is known
// to have had the request: when it answers a fence (see fence) sent after
// it. That clock does not run while the link
// is stalled, when the request may still sit in a buffer, and starts again
// on a new connection, over which a responder may still send the reply.
func (b *Broker) awaitOwedReply(ctx context.Context, rt *replyTopic) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.replies.mu.Lock()
		o, gen := rt.owed, b.conn.generation()
		b.replies.mu.Unlock()
		now := time.Now()
		switch {
		case !o.owing:
			return nil
		case o.start.IsZero() || o.gen != gen:
			fenced, err := b.fence(ctx)
			if err != nil {
				return err
			}
			b.replies.mu.Lock()
			if rt.owed.owing {
				rt.owed.start, rt.owed.gen = time.Now(), fenced
			}
			b.replies.mu.Unlock()
			continue
		case !o.owes(now, gen):
			b.replies.mu.Lock()
			rt.owed = owedReply{} // given up: lost for good, or later than anyone waits
			b.replies.mu.Unlock()
			return nil
		}
		wait := o.start.Add(o.bound).Sub(now)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-rt.paid:
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.closed:
			return ErrClosed
		}
	}
}

// fence returns once the broker has answered a packet sent now, and the
// connection that went on: the broker handles a client's packets in order,
// so by then it has had every request sent before on that connection. The
// packet is an UNSUBSCRIBE of a filter in the Broker's inbox that nothing
// subscribes: it changes nothing, and every broker answers it. Like a
// publish, it fails with ErrDisconnected if the connection fails under it.
func (b *Broker) fence(ctx context.Context) (gen int, err error) {
	if err := b.awaitReady(ctx); err != nil {
		return 0, err
	}
	b.replies.mu.Lock()
	gen = b.conn.generation()
	b.replies.mu.Unlock()
	if err := b.t.unsubscribe(ctx, b.inbox+"fence"); err != nil {
		return 0, err
	}
	return gen, nil
}

// payOwedReply reports whether name is a reply topic that owes a reply,
// which it then no longer does: the message that came on it, with no
// request waiting, is that reply.
func (b *Broker) payOwedReply(name string) bool {
	if _, ok := b.replies.index.Load().topics[name]; !ok {
		return false // a request, or a reply on the inbox: no lock on their way
	}
	b.replies.mu.Lock()
	defer b.replies.mu.Unlock()
	rt, ok := b.replies.topics[name]
	if !ok || !rt.owed.owing {
		return false
	}
	rt.owed = owedReply{}
	select {
	case rt.paid <- struct{}{}:
	default: // a wake-up is pending already
	}
	return true
}

// leaveReplyTopic counts a user out of rt, and unsubscribes the least
// recently used idle reply topic when too many are idle.
func (b *Broker) leaveReplyTopic(rt *replyTopic) {
	b.replies.mu.Lock()
	defer b.replies.mu.Unlock()
	if rt.users--; rt.users > 0 || rt.evicting {
		return
	}
	b.replies.idle = append(b.replies.idle, rt)
	if len(b.replies.idle) <= maxIdleReplyTopics {
		return
	}
	// A topic that still owes a reply goes last: unsubscribed and then
	// subscribed again, it would have forgotten the reply it owes.
	now := time.Now()
	i := max(0, slices.IndexFunc(b.replies.idle, func(idle *replyTopic) bool { return !idle.owed.owes(now, b.conn.generation()) }))
	oldest := b.replies.idle[i]
	b.replies.idle = slices.Delete(b.replies.idle, i, i+1)
	oldest.evicting = true
	oldest.turn <- struct{}{} // free, as it has no users: the next one waits for the unsubscribe
	if !b.restores.Add() {    // closing: the connection goes anyway
		delete(b.replies.topics, oldest.name)
		b.replies.reindex()
		return
	}
	go b.evictReplyTopic(oldest) // ends when the broker answers, or at the request timeout
}

// evictReplyTopic unsubscribes rt, whose turn it holds, and forgets it
// unless a request has come for it meanwhile.
func (b *Broker) evictReplyTopic(rt *replyTopic) {
	defer b.restores.Done()
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.requestTimeout)
	defer cancel()
	if err := b.t.unsubscribe(ctx, rt.name); err != nil {
		b.log.Debug("mqttrpc: unsubscribing an idle reply topic", "topic", rt.name, "err", err)
	}
	rt.subscribed.Store(false)
	b.replies.mu.Lock()
	rt.evicting = false
	if rt.users == 0 {
		delete(b.replies.topics, rt.name)
		b.replies.reindex()
	}
	b.replies.mu.Unlock()
	<-rt.turn
}
