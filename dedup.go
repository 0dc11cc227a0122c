package mqttrpc

import (
	"container/list"
	"sync"
)

// dedupCache remembers the replies to the most recent requests of one
// subscriber, keyed by Correlation Data, so that a request delivered twice
// runs its handler once (see [Deduplicate]). A nil cache deduplicates nothing.
type dedupCache struct {
	max int

	mu      sync.Mutex
	entries map[string]*list.Element // of *dedupEntry
	recent  *list.List               // most recently seen first
}

// dedupEntry is one request's outcome: done closes when its reply is known.
type dedupEntry struct {
	key   string
	done  chan struct{}
	reply *Message // nil if none was sent
}

func newDedupCache(max int) *dedupCache {
	if max <= 0 {
		return nil
	}
	return &dedupCache{max: max, entries: make(map[string]*list.Element), recent: list.New()}
}

// begin looks m up. first is true if m was not seen before (or cannot be
// told apart: it has no Correlation Data); then the caller runs the handler
// and finishes the entry. Otherwise the entry belongs to the earlier copy.
func (c *dedupCache) begin(m *Message) (e *dedupEntry, first bool) {
	if c == nil || m.CorrelationID == "" {
		return nil, true
	}
	key := m.CorrelationID
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.recent.MoveToFront(el)
		return el.Value.(*dedupEntry), false
	}
	e = &dedupEntry{key: key, done: make(chan struct{})}
	c.entries[key] = c.recent.PushFront(e)
	if c.recent.Len() > c.max {
		oldest := c.recent.Back()
		c.recent.Remove(oldest)
		delete(c.entries, oldest.Value.(*dedupEntry).key)
	}
	return e, true
}

func (e *dedupEntry) store(reply *Message) {
	if e != nil {
		e.reply = reply
	}
}

func (e *dedupEntry) finish() {
	if e != nil {
		close(e.done)
	}
}

// replay answers duplicate m with the reply its first copy got, waiting for
// it if the first copy is still running. The reply goes where m asks for it:
// a caller that retries may wait on a new reply topic.
func (s *Subscription) replay(e *dedupEntry, m *Message) {
	s.b.stats.duplicates.Add(1)
	select {
	case <-e.done:
	case <-s.b.handlerCtx.Done():
		return
	}
	if e.reply == nil {
		return
	}
	to := s.replyTopic(m)
	if to == "" {
		return
	}
	out := *e.reply
	out.Topic = to
	s.send(&out)
}
