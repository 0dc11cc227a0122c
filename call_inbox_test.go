package mqttrpc

import "testing"

// TestInboxStaysWithinItsLimit: a loop that always lags one behind never
// empties the inbox; its array still stays near the limit, however many
// messages pass through it.
func TestInboxStaysWithinItsLimit(t *testing.T) {
	t.Parallel()
	q := newInbox(4, 0, overflow)
	q.push(&Message{})
	for i := range 10_000 {
		if got := q.push(&Message{}); got != answered {
			t.Fatalf("push %d: %d, want answered", i, got)
		}
		if m, _ := q.pop(); m == nil {
			t.Fatalf("pop %d: nothing held", i)
		}
	}
	if q.len() != 1 {
		t.Fatalf("%d held, want 1", q.len())
	}
	if c := cap(q.held); c > 16 {
		t.Fatalf("array of %d for at most 4 held", c)
	}
}
