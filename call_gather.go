package mqttrpc

import (
	"context"
	"iter"
)

// defaultReplyBuffer is how many replies a Gather, or responses a Stream,
// holds for a loop that has not taken them yet, unless [ReplyBuffer] says
// otherwise: room for every instance of a fleet of 10,000 to answer at once.
const defaultReplyBuffer = 16384

// Gather publishes body to topic as one request and yields every reply that
// arrives, each as it comes, until the request's deadline (its context's,
// [Timeout], or else the Broker's request timeout), until ctx is cancelled,
// or until [MaxReplies] replies have come: scatter-gather, for questions
// many responders answer ("which devices on site 7 are online"). The
// request is sent when the loop starts, and the reply topic is forgotten when
// it ends, also when the loop breaks early.
//
// The end of the wait is not an error: the sequence just ends. Each reply
// comes with nil, or with the *[RemoteError] it carries; the sequence yields
// a nil *Message with an error and ends when the request cannot be sent
// (as [Broker.Request] would return it: [ErrNoResponders],
// [ErrFeatureNotSupported], ...) or when the Broker closes ([ErrClosed]).
//
// The body, topic and options are those of [Broker.Request]; on MQTT 3.1.1
// it needs [TokenReply] or [ReplyTo], whose topic it holds until the loop
// ends.
//
// A fleet answers in a burst that a loop doing any work cannot keep pace
// with, so replies wait for the loop: up to 16,384 of them, or as many as
// [ReplyBuffer] says, each holding its Message and body. Replies that
// arrived before the deadline are yielded even when the loop takes them
// after it. Replies beyond the buffer are dropped, counted in
// [Stats].DroppedReplies, and reported: the sequence then ends with an
// error wrapping [ErrRepliesDropped] that says how many, never a silent
// gap. Replies beyond MaxReplies are not the caller's and are not counted.
func (b *Broker) Gather(ctx context.Context, topicName string, body any, opts ...RequestOption) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		if err := b.gather(ctx, topicName, body, opts, yield); err != nil {
			yield(nil, err)
		}
	}
}

// gather runs one Gather, returning the error that ends it early.
func (b *Broker) gather(ctx context.Context, topicName string, body any, opts []RequestOption, yield func(*Message, error) bool) error {
	m, r, err := b.newRequest(topicName, body, opts)
	if err != nil {
		return err
	}
	if b.cfg.hook != nil {
		return b.hookedGather(ctx, topicName, m, r, opts, yield)
	}
	return b.gatherReplies(ctx, topicName, m, r, yield)
}

// gatherReplies sends the request m and yields its replies.
func (b *Broker) gatherReplies(ctx context.Context, topicName string, m *Message, r replyRoute, yield func(*Message, error) bool) error {
	ctx, cancel := b.requestContext(ctx, r.timeout)
	defer cancel()
	rt, err := b.routeReply(ctx, m, r)
	if err != nil {
		return opError("gather", topicName, err)
	}
	defer b.releaseReplyTopic(rt)
	buffer := r.replyBuffer
	if buffer == 0 {
		buffer = defaultReplyBuffer
	}
	in := newInbox(buffer, r.maxReplies, overflow)
	c := b.pending.addInbox(m.ReplyTo, m.CorrelationID, in)
	defer b.pending.remove(m.ReplyTo, c)
	if err := b.sendRequest(ctx, m, nil); err != nil {
		return opError("gather", topicName, err)
	}
	for n := 0; r.maxReplies == 0 || n < r.maxReplies; {
		reply, closed := in.pop()
		if reply != nil {
			n++
			if !yield(reply, replyError(reply)) {
				return nil
			}
			continue
		}
		if closed { // see pendingTable.closeAll
			return ErrClosed
		}
		select {
		case <-in.notify:
		case <-ctx.Done():
			// What came before the deadline is the caller's still.
			for reply, _ := in.pop(); reply != nil && (r.maxReplies == 0 || n < r.maxReplies); reply, _ = in.pop() {
				n++
				if !yield(reply, replyError(reply)) {
					return nil
				}
			}
			return repliesLost(topicName, in.lost(), buffer)
		}
	}
	return repliesLost(topicName, in.lost(), buffer)
}

// repliesLost is the error that ends a Gather which dropped replies, or nil.
func repliesLost(topicName string, lost, buffer int) error {
	if lost == 0 {
		return nil
	}
	return opError("gather", topicName, fail(ErrRepliesDropped, "%d replies came while %d waited for the loop (see ReplyBuffer)", lost, buffer))
}
