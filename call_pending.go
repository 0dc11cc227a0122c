package mqttrpc

import "sync"

// pendingTable is the one table of requests waiting for a reply, keyed by the
// topic the reply will arrive on.
type pendingTable struct {
	mu     sync.Mutex
	calls  map[string]call
	closed bool
}

// call is one request waiting for its reply, or one [Broker.Gather] waiting
// for all of them.
type call struct {
	correlationID string
	reply         chan *Message // capacity 1, so delivering never blocks; nil means closed
	multi         bool          // a Gather: it stays until removed, and its channel is closed on Close
	queue         *replyQueue   // a Gather's replies; reply then only wakes its loop
	stream        *streamInbox  // a Stream: replies go here instead (multi is set too)
}

func (p *pendingTable) init() { p.calls = make(map[string]call) }

// replyChans keeps the reply channels of finished requests for new ones: a
// channel of pointers costs two allocations. A channel goes back only from
// remove, after which nothing can send to it (every send happens under
// pendingTable.mu while its call is in the table, or before add returns it).
var replyChans = sync.Pool{New: func() any { return make(chan *Message, 1) }}

func (p *pendingTable) add(replyTopic, correlationID string) call {
	c := call{correlationID: correlationID, reply: replyChans.Get().(chan *Message)}
	p.mu.Lock()
	if p.closed {
		c.reply <- nil
	} else {
		p.calls[replyTopic] = c
	}
	p.mu.Unlock()
	return c
}

// closeAll ends every waiting request, and every later one, with a nil
// reply, which Request reports as ErrClosed. Waiters need no third select
// case for Close, which would cost each of them memory while it waits.
func (p *pendingTable) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for topic, c := range p.calls {
		if c.stream != nil {
			c.stream.close()
		} else if c.multi {
			close(c.reply) // deliver sends to it under mu only
		} else {
			c.reply <- nil // never blocks: deliver removes a call before sending to it
		}
		delete(p.calls, topic)
	}
}

// remove forgets c on every exit of a request: reply, timeout, cancel,
// close. It reports whether a reply had come that the request did not wait
// for.
func (p *pendingTable) remove(replyTopic string, c call) (replied bool) {
	p.mu.Lock()
	if p.calls[replyTopic].reply == c.reply {
		delete(p.calls, replyTopic)
	}
	p.mu.Unlock()
	if c.multi {
		return false // a Gather's channel: made to its size, and closed on Close
	}
	select {
	case m := <-c.reply: // a reply or a close the request did not wait for
		replied = m != nil
	default:
	}
	replyChans.Put(c.reply)
	return replied
}

// Results of [pendingTable.deliver].
const (
	noCall   = iota // no request waits on the message's topic
	answered        // the waiting request got the message
	mismatch        // a request waits there, but for other Correlation Data
	overflow        // a Gather waits there, with its buffer full
	afterEnd        // a Stream waits there, but it has had its last response
)

// deliver hands m to the request waiting on m.Topic. The first matching reply
// wins and ends the call; a reply whose Correlation Data differs from the
// request's is refused, while one without any is accepted (responders that
// do not echo Correlation Data, and all of MQTT 3.1.1).
func (p *pendingTable) deliver(m *Message) int {
	p.mu.Lock()
	c, ok := p.calls[m.Topic]
	if !ok {
		p.mu.Unlock()
		return noCall
	}
	if m.CorrelationID != "" && c.correlationID != "" && m.CorrelationID != c.correlationID {
		p.mu.Unlock()
		return mismatch
	}
	if c.stream != nil {
		p.mu.Unlock()
		return c.stream.push(m)
	}
	if c.multi {
		return p.deliverMulti(c, m) // unlocks mu
	}
	delete(p.calls, m.Topic)
	c.reply <- m // never blocks (capacity 1, one sender); under mu, so remove knows no send is on its way
	p.mu.Unlock()
	return answered
}

// len returns how many requests are waiting.
func (p *pendingTable) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// addMulti adds a Gather waiting on replyTopic, holding up to buffer
// replies for its loop and taking no more than max (0: no limit).
func (p *pendingTable) addMulti(replyTopic, correlationID string, buffer, max int) call {
	c := call{correlationID: correlationID, reply: make(chan *Message, 1), multi: true, queue: &replyQueue{limit: buffer, max: max}}
	p.mu.Lock()
	if p.closed {
		close(c.reply)
	} else {
		p.calls[replyTopic] = c
	}
	p.mu.Unlock()
	return c
}

// deliverMulti hands m to the Gather c, under p.mu, which it unlocks: the
// wake-up must not race with closeAll closing the channel. It never blocks.
func (p *pendingTable) deliverMulti(c call, m *Message) int {
	defer p.mu.Unlock()
	switch c.queue.push(m) {
	case queued:
		select {
		case c.reply <- nil: // wakes the loop; one wake-up pending is enough
		default:
		}
		return answered
	case beyondMax:
		return answered // the caller asked for fewer: not lost, and not counted
	}
	return overflow
}

// Results of replyQueue.push.
const (
	queued = iota
	beyondMax
	full
)

// replyQueue holds the replies of a Gather until its loop takes them. A
// fleet answers in a burst (thousands of replies in a few milliseconds)
// that a loop doing any work cannot keep pace with, so the queue grows, up
// to its limit; past it, replies are dropped and counted, and the Gather
// says so when it ends.
type replyQueue struct {
	limit int // replies held at most
	max   int // replies taken at most (MaxReplies); 0 for no limit

	mu      sync.Mutex
	held    []*Message
	taken   int // replies queued so far
	dropped int // replies dropped for want of room
}

func (q *replyQueue) push(m *Message) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.max > 0 && q.taken >= q.max:
		return beyondMax
	case len(q.held) >= q.limit:
		q.dropped++
		return full
	}
	q.held = append(q.held, m)
	q.taken++
	return queued
}

// pop returns the oldest reply held, or nil.
func (q *replyQueue) pop() *Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.held) == 0 {
		return nil
	}
	m := q.held[0]
	q.held[0] = nil
	q.held = q.held[1:]
	return m
}

// lost returns how many replies were dropped.
func (q *replyQueue) lost() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
