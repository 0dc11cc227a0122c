package mqttrpc

import "sync"

// pendingTable is the one table of requests waiting for a reply, keyed by the
// topic the reply will arrive on.
type pendingTable struct {
	mu     sync.Mutex
	calls  map[string]call
	closed bool
}

// call is one request waiting for its reply, or one [Broker.Gather] or
// [Broker.Stream] waiting for all of them.
type call struct {
	correlationID string
	reply         chan *Message // a Request's: capacity 1, so delivering never blocks; nil means closed
	in            *inbox        // a Gather's or a Stream's, instead: it stays until removed
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
		if c.in != nil {
			c.in.close()
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
	if cur := p.calls[replyTopic]; cur.reply == c.reply && cur.in == c.in {
		delete(p.calls, replyTopic)
	}
	p.mu.Unlock()
	if c.in != nil {
		return false // a Gather or a Stream: no reply channel
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
	if c.in != nil {
		r := c.in.push(m) // under mu: see inbox.push
		p.mu.Unlock()
		return r
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

// addInbox adds a Gather or a Stream waiting on replyTopic, its messages
// going to in.
func (p *pendingTable) addInbox(replyTopic, correlationID string, in *inbox) call {
	c := call{correlationID: correlationID, in: in}
	p.mu.Lock()
	if p.closed {
		in.close()
	} else {
		p.calls[replyTopic] = c
	}
	p.mu.Unlock()
	return c
}
