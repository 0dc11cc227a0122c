package mqttrpc

import (
	"errors"
	"sync"
	"testing"
)

// PendingRequests reports how many requests b is waiting on, so tests can
// prove that every exit path forgets its request.
func PendingRequests(b *Broker) int { return b.pending.len() }

// Queued reports how many requests s has taken that wait for a free handler.
func Queued(s *Subscription) int { return len(s.intake) - len(s.running) }

// ReplyTopics reports how many explicit reply topics b keeps subscribed.
func ReplyTopics(b *Broker) int {
	b.replies.mu.Lock()
	defer b.replies.mu.Unlock()
	return len(b.replies.topics)
}

// Busy reports how many goroutines b's dispatcher has running: handlers and
// refusals. Once a test's last message has been dispatched and Busy is 0,
// every handler that message could start has run.
func Busy(b *Broker) int {
	return b.tasks.Running()
}

// Closing reports whether Close has started on b.
func Closing(b *Broker) bool { return b.isClosing() }

// Filters lists the filters b's subscribers are subscribed to.
func Filters(b *Broker) []string { return b.routes.Load().filters() }

// Hooks run per Broker, so that tests running in parallel stay apart; the
// package's hooks are set once, before any Broker exists.
var restoreHooks, resubscribeHooks sync.Map // *Broker to func()

func init() {
	testHookRestore = func(b *Broker) { runHook(&restoreHooks, b) }
	testHookResubscribe = func(b *Broker) { runHook(&resubscribeHooks, b) }
}

func runHook(hooks *sync.Map, b *Broker) {
	if f, ok := hooks.Load(b); ok {
		f.(func())()
	}
}

// OnRestore makes f run, until t ends, whenever b has read its handler table
// to subscribe everything on a new connection and has not yet sent the
// SUBSCRIBE.
func OnRestore(t testing.TB, b *Broker, f func()) { setHook(t, &restoreHooks, b, f) }

// OnResubscribe makes f run, until t ends, whenever b has read its handler
// table to subscribe again the handler filters a connection refused and has
// not yet sent the SUBSCRIBE.
func OnResubscribe(t testing.TB, b *Broker, f func()) { setHook(t, &resubscribeHooks, b, f) }

func setHook(t testing.TB, hooks *sync.Map, b *Broker, f func()) {
	hooks.Store(b, f)
	t.Cleanup(func() { hooks.Delete(b) })
}

// HoldStateLocks takes every lock of b that a connection change or a
// Subscriber takes (the handler table's, the connection's, the reply
// topics'), and returns the function that lets them go: what the
// dispatcher does meanwhile shows that it waits on none of them.
func HoldStateLocks(b *Broker) (release func()) {
	b.mu.Lock()
	b.conn.mu.Lock()
	b.replies.mu.Lock()
	return func() {
		b.replies.mu.Unlock()
		b.conn.mu.Unlock()
		b.mu.Unlock()
	}
}

// HeldReplies reports how many replies b's Gathers and Streams hold for
// their loops.
func HeldReplies(b *Broker) int { return sumInboxes(b, (*inbox).len) }

// InboxDrops returns how many replies the Broker's Gathers and Streams
// waiting now have dropped for want of room.
func InboxDrops(b *Broker) int { return sumInboxes(b, (*inbox).lost) }

// sumInboxes adds up count over the inboxes of the calls waiting now.
func sumInboxes(b *Broker, count func(*inbox) int) int {
	b.pending.mu.Lock()
	defer b.pending.mu.Unlock()
	n := 0
	for _, c := range b.pending.calls {
		if c.in != nil {
			n += count(c.in)
		}
	}
	return n
}

// LostResponse returns the index of the response whose loss broke a
// stream, as its error names it.
func LostResponse(err error) (int, bool) {
	var l lostResponse
	if !errors.As(err, &l) {
		return 0, false
	}
	return int(l.index), true
}
