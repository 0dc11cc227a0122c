package mqttrpc

import (
	"context"
	"iter"
)

// gatherBuffer is how many replies a Gather holds for a caller that has not
// taken them yet, unless [MaxReplies] asks for fewer.
const gatherBuffer = 256

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
// ends. Up to 256
// replies (or MaxReplies, if lower) wait for a slow loop body; replies beyond
// are dropped and counted in [Stats].DroppedReplies.
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
	size := gatherBuffer
	if r.maxReplies > 0 {
		size = min(size, r.maxReplies)
	}
	c := b.pending.addMulti(m.ReplyTo, m.CorrelationID, size)
	defer b.pending.remove(m.ReplyTo, c)
	if err := b.sendRequest(ctx, m, nil); err != nil {
		return opError("gather", topicName, err)
	}
	for n := 0; r.maxReplies == 0 || n < r.maxReplies; n++ {
		select {
		case reply, ok := <-c.reply:
			if !ok { // see pendingTable.closeAll
				return ErrClosed
			}
			if !yield(reply, replyError(reply)) {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
