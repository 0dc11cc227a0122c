package mqttrpc

import "sync"

// taskGroup counts goroutines that Close must wait for: those the dispatcher
// starts (handlers and 503 refusals), and those restoring subscriptions.
// Unlike a sync.WaitGroup, it may take new tasks while Close waits, as
// requests keep arriving until the connection closes; once Close has seen it
// idle, it refuses them.
type taskGroup struct {
	mu      sync.Mutex
	n       int
	closing bool
	idle    chan struct{} // closed when closing and no task runs
}

// add counts a new task, or reports false if the group has gone idle for Close.
func (g *taskGroup) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing && g.n == 0 {
		return false
	}
	g.n++
	return true
}

// done ends a task counted by add.
func (g *taskGroup) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closing && g.n == 0 {
		close(g.idle)
	}
}

// wait returns a channel closed once no task runs, after which add fails.
func (g *taskGroup) wait() <-chan struct{} {
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
