package mqttrpc

import (
	"container/list"
	"context"
	"hash/maphash"
	"sync"
)

// deduplicate runs the chain below once per request even when the request
// arrives twice, remembering the outcome of the last n requests. A request is
// a repeat when its topic, Correlation Data and payload are those of one
// remembered; the repeat gets the first one's answer, sent to its own reply
// topic. Requests without Correlation Data cannot be told apart and always run.
func deduplicate(n int, counted func()) Middleware {
	c := &dedupCache{max: n, entries: make(map[dedupKey]*list.Element), recent: list.New(), seed: maphash.MakeSeed()}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, m *Message) (*Response, error) {
			e, first := c.begin(m)
			if !first {
				counted()
				if m.stream != nil { // its stream already goes to the caller
					m.stream.drop()
					return nil, nil
				}
				select {
				case <-e.done:
					return e.resp, e.err
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			defer close(e.done)
			// What a repeat gets if the first copy panics.
			e.err = &RemoteError{Code: StatusInternalError, Message: msgInternal}
			e.resp, e.err = next.ServeRPC(ctx, m)
			return e.resp, e.err
		})
	}
}

// dedupCache remembers the most recent requests of one subscriber.
type dedupCache struct {
	max  int
	seed maphash.Seed

	mu      sync.Mutex
	entries map[dedupKey]*list.Element // of *dedupEntry
	recent  *list.List                 // most recently seen first
}

type dedupKey struct{ topic, correlation string }

// dedupEntry is one request's outcome: done closes when it is known.
type dedupEntry struct {
	key     dedupKey
	payload uint64 // hash of the body: a different body is not a repeat
	done    chan struct{}
	resp    *Response
	err     error
}

// begin looks m up. first is true if m is not a repeat; the caller then runs
// the handler, fills in the outcome and closes done. Otherwise the entry
// belongs to the earlier copy.
func (c *dedupCache) begin(m *Message) (e *dedupEntry, first bool) {
	if m.CorrelationID == "" {
		return &dedupEntry{done: make(chan struct{})}, true
	}
	key := dedupKey{m.Topic, m.CorrelationID}
	sum := maphash.Bytes(c.seed, m.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		if e := el.Value.(*dedupEntry); e.payload == sum {
			c.recent.MoveToFront(el)
			return e, false
		}
		c.recent.Remove(el) // same ID, other payload: a new request
	}
	e = &dedupEntry{key: key, payload: sum, done: make(chan struct{})}
	c.entries[key] = c.recent.PushFront(e)
	if c.recent.Len() > c.max {
		oldest := c.recent.Back()
		c.recent.Remove(oldest)
		delete(c.entries, oldest.Value.(*dedupEntry).key)
	}
	return e, true
}
