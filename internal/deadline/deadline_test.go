package deadline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ctxKey struct{}

func TestDeadlineCtxEndsAtDeadline(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	deadline := time.Now().Add(50 * time.Millisecond)
	ctx := New(parent, deadline)
	defer ctx.Stop()

	d, ok := ctx.Deadline()
	assert.True(t, ok)
	assert.Equal(t, deadline, d)
	assert.Equal(t, "v", ctx.Value(ctxKey{}))
	require.NoError(t, ctx.Err())
	assert.Nil(t, ctx.made(), "no timer until something waits")

	child, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
	assert.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)
	<-child.Done()
	assert.ErrorIs(t, child.Err(), context.DeadlineExceeded, "derived contexts end with it")
	assert.Equal(t, "v", ctx.Value(ctxKey{}))
}

// TestDeadlineCtxErrWithoutTimer: a context nobody waited on reports its end
// all the same, and keeps reporting the same error.
func TestDeadlineCtxErrWithoutTimer(t *testing.T) {
	ctx := New(context.Background(), time.Now().Add(-time.Second))
	defer ctx.Stop()
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done not closed after Err reported the end")
	}
	assert.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)

	parent, cancel := context.WithCancel(context.Background())
	ctx = New(parent, time.Now().Add(time.Hour))
	defer ctx.Stop()
	cancel()
	assert.ErrorIs(t, ctx.Err(), context.Canceled, "the parent's end")
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	<-ctx.Done()
}

func TestDeadlineCtxParentCancel(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ctx := New(parent, time.Now().Add(time.Hour))
	defer ctx.Stop()
	done := ctx.Done()
	child, cancelChild := context.WithTimeout(ctx, time.Hour)
	defer cancelChild()
	cancel()
	<-done
	<-child.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.ErrorIs(t, child.Err(), context.Canceled)
}

// TestDeadlineCtxStop: the context ends when its handler returns, whether
// or not a timer was made.
func TestDeadlineCtxStop(t *testing.T) {
	for _, waited := range []bool{false, true} {
		ctx := New(context.Background(), time.Now().Add(time.Hour))
		if waited {
			ctx.Done()
		}
		ctx.Stop()
		assert.ErrorIs(t, ctx.Err(), context.Canceled)
		<-ctx.Done()
		child, cancel := context.WithCancel(ctx)
		<-child.Done()
		cancel()
	}
}

var errCaller = errors.New("caller gave up")

// TestCancelCarriesItsCause: Cancel ends the context whether or not anything
// waits on it yet, and context.Cause says why, also for derived contexts.
func TestCancelCarriesItsCause(t *testing.T) {
	t.Parallel()
	for _, due := range []time.Time{{}, time.Now().Add(time.Hour)} {
		waiting := New(context.Background(), due)
		done := waiting.Done() // made before the cancel
		child, stop := context.WithCancel(waiting)
		defer stop()
		waiting.Cancel(errCaller)
		<-done
		<-child.Done()
		assert.ErrorIs(t, waiting.Err(), context.Canceled)
		assert.ErrorIs(t, context.Cause(waiting), errCaller)
		assert.ErrorIs(t, context.Cause(child), errCaller)
		waiting.Stop()

		idle := New(context.Background(), due)
		assert.Nil(t, idle.made(), "nothing made while nobody waits")
		assert.True(t, idle.Cancel(errCaller))
		assert.False(t, idle.Cancel(context.DeadlineExceeded), "later calls change nothing")
		assert.True(t, idle.Canceled())
		assert.ErrorIs(t, idle.Err(), context.Canceled)
		assert.ErrorIs(t, context.Cause(idle), errCaller)
		idle.Stop()
	}
}

// TestNoDeadline: a zero deadline is none, and the context ends at Stop.
func TestNoDeadline(t *testing.T) {
	t.Parallel()
	c := New(context.Background(), time.Time{})
	_, ok := c.Deadline()
	assert.False(t, ok)
	assert.NoError(t, c.Err())
	done := c.Done()
	c.Stop()
	<-done
	assert.ErrorIs(t, c.Err(), context.Canceled)
}
