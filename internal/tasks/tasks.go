// Package tasks counts the goroutines a Broker must wait for when it closes.
package tasks

import "sync"

// Group counts goroutines that Close must wait for: those the dispatcher
// starts (handlers and 503 refusals), and those restoring subscriptions.
// Unlike a sync.WaitGroup, it may take new tasks while Close waits, as
// requests keep arriving until the connection closes; once Close has seen it
// idle, it refuses them.
type Group struct {
	mu      sync.Mutex
	n       int
	closing bool
	idle    chan struct{} // closed when closing and no task runs
}

// Add counts a new task, or reports false if the group has gone idle for Close.
func (g *Group) Add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing && g.n == 0 {
		return false
	}
	g.n++
	return true
}

// Done ends a task counted by Add.
func (g *Group) Done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closing && g.n == 0 {
		close(g.idle)
	}
}

// Wait returns a channel closed once no task runs, after which Add fails.
func (g *Group) Wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closing {
		g.closing = true
		g.idle = make(chan struct{})
		if g.n == 0 {
			close(g.idle)
		}
	}
	return g.idle
}

// Running returns how many tasks run now.
func (g *Group) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}
