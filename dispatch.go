package mqttrpc

import "github.com/mqttrpc/mqttrpc/internal/topic"

// deliver is the one dispatcher: every incoming message passes through it. It
// runs on the transport's receiving goroutine and never blocks: replies go to
// the pending-request table, requests to a handler goroutine.
func (b *Broker) deliver(m *Message) {
	switch b.pending.deliver(m) {
	case answered:
		return
	case mismatch:
		b.dropReply(m, "correlation data does not match")
		return
	}
	if b.isInbox(m.Topic) {
		b.dropReply(m, "no request is waiting")
		return
	}
	for _, s := range *b.subs.Load() {
		if topic.Match(s.filter, m.Topic) {
			s.accept(m)
			return
		}
	}
	if b.isReplyTopic(m.Topic) { // a ReplyTo topic whose request has ended
		b.dropReply(m, "no request is waiting")
		return
	}
	b.log.Debug("mqttrpc: message matches no subscriber", "topic", m.Topic)
}

// isReplyTopic reports whether name is an explicit reply topic (see [ReplyTo]).
func (b *Broker) isReplyTopic(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.replyTopics[name]
	return ok
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
	if b.isClosing() {
		s.refuse(m, "shutting down")
		return
	}
	select {
	case s.intake <- struct{}{}:
	default:
		b.stats.overloaded.Add(1)
		s.refuse(m, "overloaded")
		return
	}
	if !b.tasks.add() { // Close has finished waiting: too late to answer
		<-s.intake
		return
	}
	go s.serve(m) // ends when the handler returns, or at once if Close gave up
}

// refuse answers m with a 503 on a goroutine of its own, as the dispatcher
// must not wait for a publish. Refusals are bounded too: beyond
// maxRefusals at once, a request is dropped unanswered and its caller times out.
func (s *Subscription) refuse(m *Message, why string) {
	b := s.b
	select {
	case b.refusals <- struct{}{}:
	default:
		b.log.Debug("mqttrpc: request dropped; too many refusals in flight", "topic", m.Topic)
		return
	}
	if !b.tasks.add() {
		<-b.refusals
		return
	}
	go func() { // ends when the reply is published or times out
		defer b.tasks.done()
		defer func() { <-b.refusals }()
		s.send(s.reply(m, nil, Errorf(StatusServiceUnavailable, "%s", why)))
	}()
}
