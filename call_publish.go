package mqttrpc

import (
	"context"
	"errors"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/deadline"
)

// Publish publishes body to topic without waiting for any reply: for events,
// and for handlers that reply by themselves. The body is encoded as a
// request's is (see [Broker.Request]). It waits for the connection if it is
// down, and, at QoS 1 and 2, for the broker's acknowledgement; that nobody
// is subscribed is not an error here.
func (b *Broker) Publish(ctx context.Context, topicName string, body any, opts ...PublishOption) error {
	// The message is built in a function of its own, whose options and
	// temporaries are off the stack by the time the publish makes its
	// deepest calls: a handler that publishes then fits in its
	// goroutine's first stack.
	m, err := newPublish(topicName, body, opts)
	if err != nil {
		return publishError(topicName, err)
	}
	if b.cfg.hook != nil {
		return b.hookedPublish(ctx, topicName, m, opts)
	}
	return b.publish(ctx, topicName, m)
}

// publish sends the message m of a Publish call.
func (b *Broker) publish(ctx context.Context, topicName string, m *Message) error {
	switch _, ok := ctx.Deadline(); {
	case ok:
	case m.QoS == 0:
		// A QoS 0 publish waits only while the connection is down or backed
		// up: the timer bounding that wait is made only if it comes to it.
		dc := deadline.New(ctx, time.Now().Add(b.cfg.requestTimeout))
		defer dc.Stop()
		ctx = dc
	default:
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.cfg.requestTimeout)
		defer cancel()
	}
	if err := b.awaitReady(ctx); err != nil {
		return publishError(topicName, err)
	}
	if err := b.t.publish(ctx, m); err != nil && !errors.Is(err, ErrNoResponders) {
		return publishError(topicName, err)
	}
	return nil
}

// newPublish builds the message of a Publish call.
func newPublish(topicName string, body any, opts []PublishOption) (*Message, error) {
	var o publishOptions
	for _, opt := range opts {
		o = opt.applyPublish(o)
	}
	return newMessage(topicName, body, o)
}

// publishError names the topic of a failed Publish.
//
//go:noinline
func publishError(topicName string, err error) error {
	return opError("publish", topicName, err)
}
