package mqttrpc

import "testing"

// pendingBurst is how many replies the benchmarks below hand to one call.
const pendingBurst = 64

// burstFor returns pendingBurst replies on topic, as the dispatcher hands
// them to the pending table.
func burstFor(topic string) []*Message {
	msgs := make([]*Message, pendingBurst)
	for i := range msgs {
		msgs[i] = &Message{Topic: topic, CorrelationID: "c"}
	}
	return msgs
}

// BenchmarkPendingGather measures the caller's side of a Gather without
// the network: the call added, a burst of replies delivered, each taken,
// the call removed.
func BenchmarkPendingGather(b *testing.B) {
	var p pendingTable
	p.init()
	msgs := burstFor("r")
	b.ReportAllocs()
	for b.Loop() {
		in := newInbox(defaultReplyBuffer, 0, overflow)
		c := p.addInbox("r", "c", in)
		for _, m := range msgs {
			if p.deliver(m) != answered {
				b.Fatal("not answered")
			}
		}
		for m, _ := in.pop(); m != nil; m, _ = in.pop() {
		}
		p.remove("r", c)
	}
}

// BenchmarkPendingStream is BenchmarkPendingGather for a Stream, sealed
// once its responses are taken, as at its last.
func BenchmarkPendingStream(b *testing.B) {
	var p pendingTable
	p.init()
	msgs := burstFor("r")
	b.ReportAllocs()
	for b.Loop() {
		in := newInbox(defaultReplyBuffer, 0, answered)
		c := p.addInbox("r", "c", in)
		for _, m := range msgs {
			if p.deliver(m) != answered {
				b.Fatal("not answered")
			}
		}
		in.take(nil)
		in.seal()
		p.remove("r", c)
	}
}
