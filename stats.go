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

	// StreamsOpened counts the streams this Broker started as a caller
	// ([Broker.Stream]); StreamsCompleted those of them that ended with
	// their last response, and StreamsCanceled those it cancelled (its
	// context ended, or the loop stopped early).
	StreamsOpened, StreamsCompleted, StreamsCanceled uint64
	// StreamResponsesDropped counts streamed responses a caller dropped: a
	// repeated index, an index far beyond the next expected, a second
	// "last", a response after the last one, and those that found the
	// stream's [ReplyBuffer] full (the stream then ends with
	// [ErrStreamBroken]). Once a stream has ended, what still comes for it
	// counts in DroppedReplies.
	StreamResponsesDropped uint64
	// StreamsServed counts the streaming requests this Broker's handlers
	// took.
	StreamsServed uint64
	// Canceled counts cancels that reached a running handler: its context
	// ended with [ErrCallerCanceled]. CancelsIgnored counts those that found
	// no running call here (it had finished, was unknown, or ran on another
	// instance), repeated cancels, and stream control messages not
	// understood; they change nothing.
	Canceled, CancelsIgnored uint64
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

	streamsOpened, streamsCompleted, streamsCanceled atomic.Uint64
	streamDropped, streamsServed                     atomic.Uint64
	canceled, cancelsIgnored                         atomic.Uint64
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

		StreamsOpened:          b.stats.streamsOpened.Load(),
		StreamsCompleted:       b.stats.streamsCompleted.Load(),
		StreamsCanceled:        b.stats.streamsCanceled.Load(),
		StreamResponsesDropped: b.stats.streamDropped.Load(),
		StreamsServed:          b.stats.streamsServed.Load(),
		Canceled:               b.stats.canceled.Load(),
		CancelsIgnored:         b.stats.cancelsIgnored.Load(),
	}
}
