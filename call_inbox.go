package mqttrpc

import "sync"

// inbox holds the replies of a Gather, or the responses of a Stream, until
// its loop takes them. The dispatcher pushes and never blocks. A fleet
// answers in a burst (thousands of replies in a few milliseconds) that a
// loop doing any work cannot keep pace with, so the inbox grows, up to its
// limit; past it, messages are dropped and counted: a Gather says how many
// when it ends, a Stream, which then has a gap, breaks.
type inbox struct {
	limit  int           // messages held at most
	max    int           // messages taken at most (MaxReplies); 0 for no limit
	full   int           // what push reports for a drop: see newInbox
	notify chan struct{} // capacity 1: something came, or was dropped, or the inbox closed

	mu      sync.Mutex
	held    []*Message // from head on: the loop has not taken them yet
	head    int
	taken   int  // messages held so far
	dropped int  // messages dropped for want of room
	closed  bool // the Broker closed
	sealed  bool // the stream has had its last: what comes now is refused
}

// newInbox returns an inbox holding up to limit messages and taking no more
// than max (0: no limit). full is what push reports for a message dropped
// for want of room: overflow, for the dispatcher to count it (a Gather goes
// on, and reports the loss when it ends), or answered (a Stream breaks on
// the loss, and says so).
func newInbox(limit, max, full int) *inbox {
	return &inbox{limit: limit, max: max, full: full, notify: make(chan struct{}, 1)}
}

// push holds m for the loop, and returns what [pendingTable.deliver]
// reports. It never blocks. It runs under pendingTable.mu, so nothing is
// held once the call has been removed: what comes later is counted as
// dropped by the dispatcher.
func (q *inbox) push(m *Message) (r int) {
	q.mu.Lock()
	switch {
	case q.sealed:
		q.mu.Unlock()
		return afterEnd
	case q.max > 0 && q.taken >= q.max:
		q.mu.Unlock()
		return answered // the caller asked for fewer: not lost, and not counted
	case len(q.held)-q.head >= q.limit:
		q.dropped++
		r = q.full
	default:
		if q.head > 0 && len(q.held) == cap(q.held) {
			q.compact()
		}
		q.held = append(q.held, m)
		q.taken++
		r = answered
	}
	q.mu.Unlock()
	q.wake() // once unlocked: the loop it wakes takes the lock at once
	return r
}

// compact moves what is held to the front of the array, instead of letting
// append copy the taken part too: a loop that always lags one behind never
// empties the inbox, and the array would grow with every message ever held.
func (q *inbox) compact() {
	n := copy(q.held, q.held[q.head:])
	clear(q.held[n:])
	q.held, q.head = q.held[:n], 0
}

// wake tells the loop to look; one wake-up pending is enough.
func (q *inbox) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// close ends the inbox for Close: the loop learns of it once it has taken
// what is held.
func (q *inbox) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}

// pop returns the oldest message held; or nil, and whether the inbox is
// closed, when none is.
func (q *inbox) pop() (m *Message, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.held) {
		return nil, q.closed
	}
	m = q.held[q.head]
	q.held[q.head] = nil
	if q.head++; q.head == len(q.held) { // empty: the next burst starts at the front again
		q.held, q.head = q.held[:0], 0
	}
	return m, false
}

// take returns every message held, swapping in spare as the next queue,
// with how many were dropped so far and whether the inbox is closed.
func (q *inbox) take(spare []*Message) (got []*Message, dropped int, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	got, q.held, q.head = q.held[q.head:], spare[:0], 0
	return got, q.dropped, q.closed
}

// seal ends the inbox once the stream has had its last response, and
// returns how many are held: from now on push refuses, so that nothing that
// comes between the loop's last take and the stream's removal from the
// pending table goes uncounted.
func (q *inbox) seal() (rest int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sealed = true
	rest = len(q.held) - q.head
	q.held, q.head = nil, 0
	return rest
}

// lost returns how many messages were dropped.
func (q *inbox) lost() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// len returns how many messages are held.
func (q *inbox) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.held) - q.head
}
