package mqttrpc

import (
	"sync"
	"sync/atomic"
)

// connection is what the Broker knows of its link to the MQTT broker:
// whether it is up, which one it is, whether its subscriptions are in place,
// the server it goes to, and why the last attempt failed. Its lock is its
// own and only connection events take it: calls and the per-message path
// read ready without it.
type connection struct {
	// ready is closed while up with every subscription restored, and
	// replaced when the link drops.
	ready atomic.Pointer[chan struct{}]

	mu     sync.Mutex // guards what follows
	up     bool
	gen    int    // counts connections, so a stale restore cannot mark a newer one ready
	server string // the server of the current or last connection, redacted
	err    error  // the last failed attempt, for Connect's error

	refused    chan struct{} // closed when connecting failed for good: Connect stops waiting
	refuseOnce sync.Once
}

func newConnection() *connection {
	c := &connection{refused: make(chan struct{})}
	c.renewReady()
	return c
}

func (c *connection) renewReady() {
	ready := make(chan struct{})
	c.ready.Store(&ready)
}

// connected records a new connection to server and returns its generation.
func (c *connection) connected(server string) (gen int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = true
	c.gen++
	c.err = nil
	if server != "" {
		c.server = server
	}
	return c.gen
}

// lost records that the connection dropped. It reports whether it was
// ready, and which server it was to.
func (c *connection) lost() (wasReady bool, server string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = false
	wasReady = isClosed(c.readyChan())
	if wasReady {
		c.renewReady()
	}
	return wasReady, c.server
}

// markReady marks connection gen ready, if it is still the one that is up
// and not ready yet. It reports whether it did, and the server.
func (c *connection) markReady(gen int) (marked bool, server string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ready := c.readyChan()
	if c.gen != gen || !c.up || isClosed(ready) {
		return false, c.server
	}
	close(*c.ready.Load())
	return true, c.server
}

// isCurrent reports whether gen is the connection that is up now.
func (c *connection) isCurrent(gen int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen == gen && c.up
}

// readyChan returns the channel that is closed once the connection is
// ready: the current one, or the next.
func (c *connection) readyChan() <-chan struct{} {
	return *c.ready.Load()
}

// failed records why an attempt failed; permanent ends Connect's wait.
func (c *connection) failed(err error, permanent bool) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	if permanent {
		c.refuseOnce.Do(func() { close(c.refused) })
	}
}

// lastError returns why the last attempt failed, or nil.
func (c *connection) lastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// serverURL returns the server of the current or last connection.
func (c *connection) serverURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// generation returns the number of the current or last connection.
func (c *connection) generation() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}
