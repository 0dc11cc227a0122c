// Package deadline has the context a handler runs with: a parent's context
// ended at a deadline too, and by a cancel from its caller, whose timer and
// cancellation are only made once something waits on them.
package deadline

import (
	"context"
	"sync"
	"time"
)

// Context is context.WithDeadline and context.WithCancelCause made lazily:
// its parent's context, ended at deadline too (if it has one), and by
// Cancel. A handler's context is one, ended at its request's deadline or by
// its caller's cancel, and so is the bound Publish puts on a QoS 0 publish.
// Most of them are never waited on and never cancelled, so the timer and
// the cancelCtx that would end them, allocations, a place in the runtime's
// timer heap and one in the parent's children per request, are only made
// once something asks for Done, or once the context has ended.
type Context struct {
	parent   context.Context
	deadline time.Time // zero for none

	mu        sync.Mutex
	timed     context.Context // made by the first Done, or by Err once ended
	cancel    context.CancelCauseFunc
	stopTimer context.CancelFunc // releases the timer of a deadline; nil without one
	stopped   bool               // the handler has returned: the context has ended
	cause     error              // set by Cancel
}

// New returns parent ended at deadline too, or at no deadline if it is
// zero. Stop it once done with it.
func New(parent context.Context, deadline time.Time) *Context {
	return &Context{parent: parent, deadline: deadline}
}

// withTimer returns the contexts this one stands for, making them on the
// first call.
func (c *Context) withTimer() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.makeLocked()
}

func (c *Context) makeLocked() context.Context {
	if c.timed != nil {
		return c.timed
	}
	c.timed, c.cancel = context.WithCancelCause(c.parent)
	switch {
	case c.cause != nil:
		c.cancel(c.cause)
	case c.stopped:
		c.cancel(context.Canceled)
	case !c.deadline.IsZero():
		c.timed, c.stopTimer = context.WithDeadline(c.timed, c.deadline)
	}
	return c.timed
}

// made returns the contexts if they have been made, else nil.
func (c *Context) made() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timed
}

// Deadline returns the deadline New was given, if any.
func (c *Context) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Done makes the timer and the cancellation, if there are none yet.
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
	stopped := c.stopped || c.cause != nil
	c.mu.Unlock()
	return stopped || c.parent.Err() != nil || !c.deadline.IsZero() && !time.Now().Before(c.deadline)
}

// Value looks key up in the made contexts once they exist: contexts derived
// from this one then find its cancellation there, as they would in a
// context.WithDeadline, and need no goroutine of their own; so does
// context.Cause.
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

// Cancel ends the context with cause, which [context.Cause] then returns;
// it makes the cancellation, as something is sure to look at it. It
// reports whether it did: later calls, and calls after Stop, do nothing.
func (c *Context) Cancel(cause error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil || c.stopped {
		return false
	}
	c.cause = cause
	c.makeLocked()
	c.cancel(cause)
	return true
}

// Canceled reports whether Cancel ended the context.
func (c *Context) Canceled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause != nil
}

// Stop ends the context once its user returns (a handler, a Publish), as
// cancelling a context.WithDeadline would, and releases the timer if one
// was made.
func (c *Context) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.cancel != nil {
		c.cancel(context.Canceled)
	}
	if c.stopTimer != nil {
		c.stopTimer()
	}
}
