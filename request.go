package mqttrpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Request publishes body to topic as a request and waits for its reply.
//
// The body is encoded by its type: a string is sent as text/plain, a []byte
// as it is with no content type, nil as an empty payload, anything else as
// JSON (application/json).
//
// On MQTT 5 the request carries a private Response Topic under the Broker's
// inbox, Correlation Data (a random UUID unless [CorrelationID] is given) and a
// Message Expiry Interval equal to the time left, so a broker drops requests
// nobody could answer in time. On MQTT 3.1.1 the request needs [TokenReply] or
// [ReplyTo].
//
// Request returns the reply, or an error: [ErrTimeout] at the deadline (the
// context's, [Timeout], or else the Broker's request timeout of 5 s),
// ctx.Err() if ctx is cancelled, [ErrClosed] if the Broker closes,
// [ErrNoResponders] if the broker says nobody is subscribed (QoS 1 and 2 on
// MQTT 5), and a *[RemoteError] if the handler answered with an error.
func (b *Broker) Request(ctx context.Context, topicName string, body any, opts ...RequestOption) (*Message, error) {
	m, r, err := b.newRequest(topicName, body, opts)
	if err != nil {
		return nil, requestError(topicName, err)
	}
	ctx, cancel := b.requestContext(ctx, r.timeout)
	defer cancel()
	rt, err := b.routeReply(ctx, m, r)
	if err != nil {
		return nil, requestError(topicName, err)
	}
	defer b.releaseReplyTopic(rt)
	c := b.pending.add(m.ReplyTo, m.CorrelationID)
	defer b.endCall(m.ReplyTo, c, rt)
	if err := b.sendRequest(ctx, m, rt); err != nil {
		return nil, requestError(topicName, err)
	}
	return awaitReply(ctx, topicName, c, rt)
}

// endCall forgets c, and tells rt if a reply came that the request did not
// wait for.
func (b *Broker) endCall(replyTopic string, c call, rt *replyTopic) {
	if b.pending.remove(replyTopic, c) {
		rt.answered()
	}
}

// routeReply readies what the reply to m comes through: a token inbox, the
// inbox, or the caller's own reply topic, which it returns held until
// releaseReplyTopic. A closure to release it would cost every request an
// allocation.
func (b *Broker) routeReply(ctx context.Context, m *Message, r replyRoute) (rt *replyTopic, err error) {
	switch {
	case r.tokenReply != "":
		err = b.tokenRequest(ctx, m, r.tokenReply)
	case r.explicit:
		rt, err = b.acquireReplyTopic(ctx, m.ReplyTo)
	case !b.t.properties(): // the inbox, which MQTT 3.1.1 subscribes only for a body reply
		err = b.subscribeTokenInbox(ctx, strings.TrimSuffix(b.inbox, "/"))
	}
	if err == nil && r.bodyReply && !b.t.properties() {
		m.Body, err = json.Marshal(discoveryRequest{ReplyTo: m.ReplyTo})
	}
	if err != nil {
		b.releaseReplyTopic(rt)
		return nil, err
	}
	return rt, nil
}

// sendRequest publishes m once the connection is up, expiring when ctx ends.
// rt, the caller's reply topic if any, learns whether m may have gone out.
func (b *Broker) sendRequest(ctx context.Context, m *Message, rt *replyTopic) error {
	if deadline, ok := ctx.Deadline(); ok {
		m.expiry = time.Until(deadline)
	}
	if err := b.awaitReady(ctx); err != nil {
		return err
	}
	rt.sending()
	err := b.t.publish(ctx, m)
	if err != nil && m.QoS == 0 && !errors.Is(err, ErrDisconnected) {
		// At QoS 0 a publish fails before the packet is handed over (the
		// link is backed up, or the context ended), or as the connection
		// fails, when it may have been written: only then is a reply owed.
		// At QoS 1 and 2 it may fail waiting for the acknowledgement.
		rt.answered()
	}
	return err
}

// awaitReply waits for the reply to c. Like newRequest, it keeps its locals
// out of Request's frame, which is on the stack while Request publishes.
func awaitReply(ctx context.Context, topicName string, c call, rt *replyTopic) (*Message, error) {
	select {
	case reply := <-c.reply:
		if reply == nil { // see pendingTable.closeAll
			return nil, requestError(topicName, ErrClosed)
		}
		rt.answered()
		if err := replyError(reply); err != nil {
			return nil, requestError(topicName, err)
		}
		return reply, nil
	case <-ctx.Done():
		return nil, requestError(topicName, ctx.Err())
	}
}

// replyRoute says where the reply to a request built by newRequest comes.
type replyRoute struct {
	timeout    time.Duration // the Timeout option; 0 if none
	tokenReply string        // the TokenReply prefix, if given
	explicit   bool          // the reply topic is the caller's ReplyTo, in m.ReplyTo
	maxReplies int           // the MaxReplies option, for Gather
	bodyReply  bool          // the body names the reply topic, on MQTT 3.1.1
}

// newRequest builds the request message from Request's arguments, with its
// reply topic (the caller's ReplyTo, or a new one in the inbox unless the
// reply comes by token) and its Correlation Data. It is a function of its
// own so that its locals are off the stack by the time Request publishes and
// waits: the caller's stack then stays within its first size, instead of
// doubling in the deepest call of a QoS 1 publish and staying doubled while
// it waits.
func (b *Broker) newRequest(topicName string, body any, opts []RequestOption) (*Message, replyRoute, error) {
	var o requestOptions
	for _, opt := range opts {
		o = opt.applyRequest(o)
	}
	if o.maxReplies < 0 {
		return nil, replyRoute{}, fail(ErrInvalidArgument, "MaxReplies %d < 0", o.maxReplies)
	}
	m, err := newMessage(topicName, body, o.publishOptions)
	if err != nil {
		return nil, replyRoute{}, err
	}
	if o.replyTo == "" && o.tokenReply == "" && !o.bodyReply && !b.t.properties() {
		return nil, replyRoute{}, fail(ErrFeatureNotSupported, "MQTT %s has no Response Topic; pass mqttrpc.TokenReply or mqttrpc.ReplyTo", b.cfg.version)
	}
	// The Correlation Data's bytes go on the wire as they are: a string given
	// by the caller is converted once (in publish), a generated ID never is.
	needID := m.CorrelationID == "" && b.t.properties()
	switch {
	case o.replyTo == "" && o.tokenReply == "":
		m.ReplyTo, m.correlation = b.newRequestIDs(needID)
	case needID:
		_, m.correlation = b.newRequestIDs(true)
	}
	if needID {
		m.CorrelationID = unsafe.String(unsafe.SliceData(m.correlation), len(m.correlation))
	}
	return m, replyRoute{timeout: o.timeout, tokenReply: o.tokenReply, explicit: o.replyTo != "", maxReplies: o.maxReplies, bodyReply: o.bodyReply}, nil
}

// uuidLen is the length of a UUID as text: 8-4-4-4-12 hex digits.
const uuidLen = 36

// newCorrelationID returns a random (version 4) UUID string from crypto/rand.
func newCorrelationID() string {
	var id [uuidLen]byte
	writeUUID(id[:])
	return string(id[:])
}

// writeUUID writes a random (version 4) UUID from crypto/rand as text into
// id, which is uuidLen bytes long.
func writeUUID(id []byte) {
	var u [16]byte
	rand.Read(u[:])         // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	hex.Encode(id[0:8], u[0:4])
	id[8] = '-'
	hex.Encode(id[9:13], u[4:6])
	id[13] = '-'
	hex.Encode(id[14:18], u[6:8])
	id[18] = '-'
	hex.Encode(id[19:23], u[8:10])
	id[23] = '-'
	hex.Encode(id[24:36], u[10:16])
}

// newRequestIDs returns a reply topic in the inbox with a fresh random token
// and, if withID, a random (version 4) UUID as text for Correlation Data,
// both from crypto/rand and both in one allocation: per request, the
// topic's string and the ID's bytes (and, made with unsafe.String, its
// string) share one buffer, which nothing writes to after this returns.
// Without withID, id is nil; callers that need only an ID ignore the topic.
func (b *Broker) newRequestIDs(withID bool) (topic string, id []byte) {
	n := len(b.inbox) + tokenLen
	size := n
	if withID {
		size += uuidLen
	}
	buf := make([]byte, size)
	copy(buf, b.inbox)
	var token [tokenLen / 2]byte
	rand.Read(token[:]) // crypto/rand.Read never fails (Go 1.24+)
	hex.Encode(buf[len(b.inbox):n], token[:])
	topic = unsafe.String(unsafe.SliceData(buf), n)
	if withID {
		id = buf[n:size:size] // capacity capped: an append can never write into buf
		writeUUID(id)
	}
	return topic, id
}

// tokenLen is the length of a token written by writeToken.
const tokenLen = 16

// writeToken writes 64 random bits from crypto/rand as 16 hex digits:
// unguessable, so no other client can predict a reply topic.
func writeToken(sb *strings.Builder) {
	var token [tokenLen / 2]byte
	rand.Read(token[:]) // crypto/rand.Read never fails (Go 1.24+)
	var digits [tokenLen]byte
	hex.Encode(digits[:], token[:])
	sb.Write(digits[:])
}

// requestContext bounds ctx by the Timeout option or, when neither gives a
// deadline, by the Broker's request timeout.
func (b *Broker) requestContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= timeout {
			// ctx ends first: a derived context (three allocations and a
			// timer) would change nothing.
			return ctx, func() {}
		}
		return context.WithTimeout(ctx, timeout)
	}
	return withDefaultTimeout(ctx, b.cfg.requestTimeout)
}

// requestError names the request in err. A function of its own, out of
// line, so that Request's frame stays small.
//
//go:noinline
func requestError(topicName string, err error) error {
	return opError("request", topicName, err)
}

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
		if c.multi {
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
