package mqttrpc

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is context.WithDeadline made lazily: its parent's context,
// ended at deadline too. A handler's context is one, ended at its request's
// deadline, and so is the bound Publish puts on a QoS 0 publish. Most of
// them are never waited on, so the timer that would end them, three
// allocations and a place in the runtime's timer heap per request, is only
// made once something asks for Done, or once the context has ended.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time

	mu      sync.Mutex
	timed   context.Context // made by the first Done, or by Err once ended
	cancel  context.CancelFunc
	stopped bool // the handler has returned: the context has ended
}

func newDeadlineCtx(parent context.Context, deadline time.Time) *deadlineCtx {
	return &deadlineCtx{parent: parent, deadline: deadline}
}

// withTimer returns the context.WithDeadline this one stands for, making it
// on the first call.
func (c *deadlineCtx) withTimer() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.timed != nil:
	case c.stopped:
		c.timed, c.cancel = context.WithCancel(c.parent)
		c.cancel()
	default:
		c.timed, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.timed
}

// made returns the context.WithDeadline if it has been made, else nil.
func (c *deadlineCtx) made() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timed
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} { return c.withTimer().Done() }

// Err reports the end without a timer while there is none. Once the context
// has ended it makes one, so that Err keeps returning the same error and
// Done, Cause and derived contexts agree with it.
func (c *deadlineCtx) Err() error {
	if t := c.made(); t != nil {
		return t.Err()
	}
	if !c.ended() {
		return nil
	}
	return c.withTimer().Err()
}

// ended reports whether the context has ended, before any timer is made.
func (c *deadlineCtx) ended() bool {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	return stopped || c.parent.Err() != nil || !time.Now().Before(c.deadline)
}

// Value looks key up in the timed context once it exists: contexts derived
// from this one then find its cancellation there, as they would in a
// context.WithDeadline, and need no goroutine of their own.
func (c *deadlineCtx) Value(key any) any {
	if t := c.made(); t != nil {
		return t.Value(key)
	}
	return c.parent.Value(key)
}

func (c *deadlineCtx) String() string {
	return "mqttrpc.deadlineCtx(deadline " + c.deadline.String() + ")"
}

// stop ends the context once its user returns (a handler, a Publish), as
// cancelling a context.WithDeadline would, and releases the timer if one
// was made.
func (c *deadlineCtx) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
}
