package mqttrpc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unsafe"

	"github.com/mqttrpc/mqttrpc/internal/ids"
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
	if b.cfg.hook != nil {
		return b.hookedRequest(ctx, topicName, m, r, opts)
	}
	return b.request(ctx, topicName, m, r)
}

// request sends the request m and waits for its reply.
func (b *Broker) request(ctx context.Context, topicName string, m *Message, r replyRoute) (*Message, error) {
	ctx, cancel := b.requestContext(ctx, r.timeout)
	defer cancel()
	rt, err := b.routeReply(ctx, m, r)
	if err != nil {
		return nil, requestError(topicName, err)
	}
	defer b.releaseReplyTopic(rt)
	c := b.pending.add(m.ReplyTo, m.CorrelationID)
	defer b.endCall(m.ReplyTo, c, rt)
	err = b.sendRequest(ctx, m, rt)
	var reply *Message
	if err == nil {
		reply, err = awaitReply(ctx, topicName, c, rt)
	}
	if err != nil && ctx.Err() == context.Canceled {
		// The caller gave up, maybe before the PUBACK: its handler may
		// stop too.
		b.sendCancel(m)
	}
	return reply, requestError(topicName, err)
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
	if err == nil && r.bodyReply { // on MQTT 5 too: a 3.1.1 responder sees no Response Topic
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
	timeout     time.Duration // the Timeout option; 0 if none
	tokenReply  string        // the TokenReply prefix, if given
	explicit    bool          // the reply topic is the caller's ReplyTo, in m.ReplyTo
	maxReplies  int           // the MaxReplies option, for Gather
	replyBuffer int           // the ReplyBuffer option; 0 for the default
	bodyReply   bool          // the body names the reply topic, on MQTT 3.1.1
	idle        time.Duration // the IdleTimeout option, for Stream
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
	if o.maxReplies < 0 || o.replyBuffer < 0 {
		return nil, replyRoute{}, fail(ErrInvalidArgument, "MaxReplies %d or ReplyBuffer %d < 0", o.maxReplies, o.replyBuffer)
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
	return m, replyRoute{timeout: o.timeout, tokenReply: o.tokenReply, explicit: o.replyTo != "", maxReplies: o.maxReplies, replyBuffer: o.replyBuffer, bodyReply: o.bodyReply, idle: o.idle}, nil
}

// newRequestIDs returns a reply topic in the inbox with a fresh random token
// and, if withID, a random (version 4) UUID as text for Correlation Data,
// both from crypto/rand and both in one allocation: per request, the
// topic's string and the ID's bytes (and, made with unsafe.String, its
// string) share one buffer, which nothing writes to after this returns.
// Without withID, id is nil; callers that need only an ID ignore the topic.
func (b *Broker) newRequestIDs(withID bool) (topic string, id []byte) {
	n := len(b.inbox) + ids.TokenLen
	size := n
	if withID {
		size += ids.UUIDLen
	}
	buf := make([]byte, size)
	copy(buf, b.inbox)
	ids.WriteToken(buf[len(b.inbox):n])
	topic = unsafe.String(unsafe.SliceData(buf), n)
	if withID {
		id = buf[n:size:size] // capacity capped: an append can never write into buf
		ids.WriteUUID(id)
	}
	return topic, id
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

// withDefaultTimeout bounds a context that has no deadline by d, so no call
// waits forever.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}
