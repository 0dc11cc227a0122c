// Package deadline has the context a handler runs with: a parent's context
// ended at a deadline too, whose timer is only made once something waits on
// it.
package deadline

import (
	"context"
	"sync"
	"time"
)

// Context is context.WithDeadline made lazily: its parent's context,
// ended at deadline too. A handler's context is one, ended at its request's
// deadline, and so is the bound Publish puts on a QoS 0 publish. Most of
// them are never waited on, so the timer that would end them, three
// allocations and a place in the runtime's timer heap per request, is only
// made once something asks for Done, or once the context has ended.
type Context struct {
	parent   context.Context
	deadline time.Time

	mu      sync.Mutex
	timed   context.Context // made by the first Done, or by Err once ended
	cancel  context.CancelFunc
	stopped bool // the handler has returned: the context has ended
}

// New returns parent ended at deadline too. Stop it once done with it.
func New(parent context.Context, deadline time.Time) *Context {
	return &Context{parent: parent, deadline: deadline}
}

// withTimer returns the context.WithDeadline this one stands for, making it
// on the first call.
func (c *Context) withTimer() context.Context {
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
func (c *Context) made() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timed
}

// Deadline returns the deadline New was given.
func (c *Context) Deadline() (time.Time, bool) { return c.deadline, true }

// Done makes the timer, if there is none yet.
func (c *Context) Done() <-chan struct{} { return c.withTimer().Done() }

// Err reports the end without a timer while there is none. Once the context
// has ended it makes one, so that Err keeps returning the same error and
// Done, Cause and derived contexts agree with it.
func (c *Context) Err() error {
	if t := c.made(); t != nil {
		return t.Err()
	}
	if !c.ended() {
		return nil
	}
	return c.withTimer().Err()
}

// ended reports whether the context has ended, before any timer is made.
func (c *Context) ended() bool {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	return stopped || c.parent.Err() != nil || !time.Now().Before(c.deadline)
}

// Value looks key up in the timed context once it exists: contexts derived
// from this one then find its cancellation there, as they would in a
// context.WithDeadline, and need no goroutine of their own.
func (c *Context) Value(key any) any {
	if t := c.made(); t != nil {
		return t.Value(key)
	}
	return c.parent.Value(key)
}

// String names the context and its deadline, for debugging.
func (c *Context) String() string {
	return "deadline.Context(" + c.deadline.String() + ")"
}

// Stop ends the context once its user returns (a handler, a Publish), as
// cancelling a context.WithDeadline would, and releases the timer if one
// was made.
func (c *Context) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel()
	}
}
