package mqttrpc

import "sync"

// ConnState is the state of a Broker's connection to its MQTT broker.
type ConnState int

// The states a Broker goes through. It starts Connected (Connect returns
// only then), may go Disconnected and Connected again any number of times,
// and ends Closed.
const (
	// StateConnected: connected, with the reply inbox and every handler
	// subscribed again; requests and replies flow.
	StateConnected ConnState = iota + 1
	// StateDisconnected: the connection was lost and the Broker is
	// reconnecting; calls wait for it, within their deadlines.
	StateDisconnected
	// StateClosed: [Broker.Close] was called.
	StateClosed
)

// String returns the state in lower case, for logs.
func (s ConnState) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// StateChange is a change of a Broker's connection state, as
// [WithStateHandler] reports it.
type StateChange struct {
	State ConnState
	// Server is the URL, with any password masked, of the server the
	// Broker is now connected to (StateConnected), has lost
	// (StateDisconnected), or was last connected to (StateClosed; empty if
	// it never connected). With [WithServers] it says which node is in use.
	Server string
}

// State returns the Broker's current connection state.
func (b *Broker) State() ConnState {
	select {
	case <-b.closed:
		return StateClosed
	default:
	}
	if isClosed(b.conn.readyChan()) {
		return StateConnected
	}
	return StateDisconnected
}

// stateNotifier runs the state handler, in order, off the transport's
// goroutines, which must never wait for user code.
type stateNotifier struct {
	fn func(StateChange)

	mu     sync.Mutex
	queue  chan StateChange
	closed bool
}

func newStateNotifier(fn func(StateChange)) *stateNotifier {
	if fn == nil {
		return nil
	}
	n := &stateNotifier{fn: fn, queue: make(chan StateChange, 64)}
	go n.run() // ends when close has been called and the queue is empty
	return n
}

func (n *stateNotifier) run() {
	for s := range n.queue {
		n.fn(s)
	}
}

// notify queues s for the handler. It reports false if s was dropped.
func (n *stateNotifier) notify(s StateChange) bool {
	if n == nil {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return true
	}
	select {
	case n.queue <- s:
		return true
	default:
		return false
	}
}

// close queues StateClosed, last connected to server, as the last state and
// lets run end.
func (n *stateNotifier) close(server string) {
	if n == nil {
		return
	}
	n.notify(StateChange{State: StateClosed, Server: server})
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	close(n.queue)
}
