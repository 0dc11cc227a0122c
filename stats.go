package mqttrpc

import "sync/atomic"

// Stats counts what a Broker dropped or refused, so that an operator can
// see it. Counters only grow.
type Stats struct {
	// DroppedReplies counts messages on this Broker's reply topics that no
	// request was waiting for (late, duplicate or guessed), or whose
	// Correlation Data did not match the request's. They are never delivered.
	DroppedReplies uint64
	// Overloaded counts requests answered with [StatusServiceUnavailable]
	// because their subscriber's queue was full (see [QueueLimit]).
	Overloaded uint64
	// Duplicates counts requests answered from the [Deduplicate] cache
	// instead of running their handler again.
	Duplicates uint64
	// Panics counts handler panics, each answered with [StatusInternalError].
	Panics uint64
	// Disconnects counts lost connections.
	Disconnects uint64
	// Expired counts requests not run because their sender had stopped
	// waiting (their Message Expiry Interval passed) while they queued.
	Expired uint64
	// Unroutable counts requests that matched no handler, each answered
	// with [StatusNotFound] where it named a Response Topic.
	Unroutable uint64
	// Retained counts requests delivered as retained messages and not run
	// (see [AcceptRetained]).
	Retained uint64
	// RefusalsDropped counts requests that should have been refused with an
	// error reply (503, 404) but got none, because the Broker was already
	// sending as many refusals as it allows at once; their callers time out.
	RefusalsDropped uint64
}

type stats struct {
	droppedReplies  atomic.Uint64
	overloaded      atomic.Uint64
	duplicates      atomic.Uint64
	panics          atomic.Uint64
	disconnects     atomic.Uint64
	expired         atomic.Uint64
	unroutable      atomic.Uint64
	retained        atomic.Uint64
	refusalsDropped atomic.Uint64
}

// Stats returns the Broker's counters.
func (b *Broker) Stats() Stats {
	return Stats{
		DroppedReplies:  b.stats.droppedReplies.Load(),
		Overloaded:      b.stats.overloaded.Load(),
		Duplicates:      b.stats.duplicates.Load(),
		Panics:          b.stats.panics.Load(),
		Disconnects:     b.stats.disconnects.Load(),
		Expired:         b.stats.expired.Load(),
		Unroutable:      b.stats.unroutable.Load(),
		Retained:        b.stats.retained.Load(),
		RefusalsDropped: b.stats.refusalsDropped.Load(),
	}
}
