package mqttrpc

import "time"

// deliver is the one dispatcher: every incoming message passes through it. It
// runs on the transport's receiving goroutine and never blocks: replies go to
// the pending-request table, requests to a handler goroutine.
func (b *Broker) deliver(m *Message) {
	m.received = time.Since(epoch)
	if m.Retain && (b.isInbox(m.Topic) || b.isReplyTopic(m.Topic)) {
		// Retained on a reply topic: left there by an earlier reply, it
		// would answer whichever request waits now.
		b.dropReply(m, "retained")
		return
	}
	switch b.pending.deliver(m) {
	case answered:
		return
	case mismatch:
		b.dropReply(m, "correlation data does not match")
		return
	case overflow:
		b.dropReply(m, "the gathering caller is not keeping up")
		return
	case afterEnd:
		b.stats.streamDropped.Add(1)
		b.log.Debug("mqttrpc: stream response dropped", "topic", m.Topic, "reason", "after the stream ended")
		return
	}
	// A message on a reply topic is never a request, even where a handler's
	// filter matches it too: answering replies is how RPC loops start.
	if b.payOwedReply(m.Topic) {
		b.dropReply(m, "late: its request ended without it")
		return
	}
	if b.isInbox(m.Topic) || b.isReplyTopic(m.Topic) {
		b.dropReply(m, "no request is waiting")
		return
	}
	if m.Headers != nil && b.control(m) { // a cancel, or the end of a request stream
		return
	}
	s, owner := b.routes.Load().match(m)
	if m.subID != 0 && s != nil && owner != s {
		// A copy the broker sent for another, less specific, subscription:
		// s gets the message through its own.
		return
	}
	if s == nil {
		b.stats.unroutable.Add(1)
		b.sendRefusal(m, m.ReplyTo, StatusNotFound, "no handler for this topic")
		return
	}
	s.accept(m)
}

// isReplyTopic reports whether name is an explicit reply topic (see
// [ReplyTo] and [TokenReply]).
func (b *Broker) isReplyTopic(name string) bool {
	return b.replies.index.Load().has(name)
}

func (b *Broker) dropReply(m *Message, why string) {
	b.stats.droppedReplies.Add(1)
	b.log.Debug("mqttrpc: reply dropped", "topic", m.Topic, "reason", why)
}

// accept takes m for the handler if the subscriber has room, and refuses it
// with a 503 error reply otherwise: memory stays bounded and the caller learns
// at once instead of waiting for its timeout.
func (s *Subscription) accept(m *Message) {
	b := s.b
	if m.Retain && !s.opts.retained {
		b.stats.retained.Add(1)
		b.log.Debug("mqttrpc: retained request not run", "topic", m.Topic)
		return
	}
	if b.isClosing() {
		s.countRefused()
		b.sendRefusal(m, s.answerTopic(m), StatusServiceUnavailable, msgShutdown)
		return
	}
	select {
	case s.intake <- struct{}{}:
	default:
		b.stats.overloaded.Add(1)
		s.countRefused()
		b.sendRefusal(m, s.answerTopic(m), StatusServiceUnavailable, "overloaded")
		return
	}
	if !b.tasks.Add() { // Close has finished waiting: too late to answer
		<-s.intake
		return
	}
	b.handlers.run(s, m)
}

// sendRefusal answers m on topic to with an error reply, on a goroutine of its
// own, as the dispatcher must not wait for a publish. The reply goes at QoS 0:
// it is one write that waits for no acknowledgement, so refusals keep pace
// with a flood even where the broker allows few QoS 1 messages in flight.
// They are bounded too: beyond maxRefusals at once, a request is dropped
// unanswered and its caller times out.
func (b *Broker) sendRefusal(m *Message, to string, code int, why string) {
	if to == "" || !b.t.properties() { // nowhere to answer, or no way to say it
		b.log.Debug("mqttrpc: request not served", "topic", m.Topic, "status", code, "reason", why)
		return
	}
	select {
	case b.refusals <- struct{}{}:
	default:
		b.stats.refusalsDropped.Add(1)
		b.log.Debug("mqttrpc: request dropped; too many refusals in flight", "topic", m.Topic)
		return
	}
	if !b.tasks.Add() {
		<-b.refusals
		return
	}
	go func() { // ends when the reply is written or fails
		defer b.tasks.Done()
		defer func() { <-b.refusals }()
		out := b.errorReply(m, to, &RemoteError{Code: code, Message: why})
		out.QoS = 0
		b.send(out, m)
	}()
}

// countRefused tells the subscription's endpoint, if it has one, of a
// request refused before its handler ran.
func (s *Subscription) countRefused() {
	if s.opts.endpoint != nil {
		s.opts.endpoint.countRefused()
	}
}
