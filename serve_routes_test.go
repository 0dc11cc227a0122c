package mqttrpc

import (
	"runtime"
	"strconv"
	"testing"
)

// benchTable builds the table n handlers of pattern(i) make, as
// addSubscription would with Subscription Identifiers, without a network.
func benchTable(n int, pattern func(int) string) *routes {
	b := &Broker{}
	r := &routes{}
	for i := range n {
		s, err := b.newSubscription(pattern(i), HandlerFunc(nil), nil)
		if err != nil {
			panic(err)
		}
		s.handler = nil // newSubscription's chain wraps it; routing never calls it
		s.id = i + 1
		s.active.Store(true)
		r = &routes{tree: r.tree.Insert(s.filter, s), byID: r.byID.Set(s.id, s)}
	}
	return r
}

// BenchmarkRoutesMatch is the dispatcher's lookup of a message's handler
// alone: no network, no handler. "hot" asks for the same topic every time;
// "spread" for a different handler's each time, so that with many handlers
// the lookup reads memory the cache no longer holds, as it would serving
// many devices.
func BenchmarkRoutesMatch(b *testing.B) {
	shapes := []struct {
		name           string
		pattern, topic func(int) string
	}{
		{"exact", func(i int) string { return "dev/" + strconv.Itoa(i) + "/cmd" },
			func(i int) string { return "dev/" + strconv.Itoa(i) + "/cmd" }},
		{"pattern", func(i int) string { return "svc" + strconv.Itoa(i) + "/{id}/cmd" },
			func(i int) string { return "svc" + strconv.Itoa(i) + "/42/cmd" }},
	}
	for _, shape := range shapes {
		for _, n := range []int{1, 1000, 10000, 100000} {
			r := benchTable(n, shape.pattern)
			msgs := make([]*Message, n)
			for i := range msgs {
				j := i * 7919 % n
				msgs[i] = &Message{Topic: shape.topic(j), subID: j + 1}
			}
			for _, access := range []string{"hot", "spread"} {
				b.Run("topics="+shape.name+"/handlers="+strconv.Itoa(n)+"/"+access, func(b *testing.B) {
					i := 0
					for b.Loop() {
						m := msgs[0]
						if access == "spread" {
							m = msgs[i%n]
						}
						if s, owner := r.match(m); s == nil || s != owner {
							b.Fatalf("%s: routed to %v, owner %v", m.Topic, s, owner)
						}
						i++
					}
				})
			}
		}
	}
}

// BenchmarkRoutesHeap reports the heap a registered handler holds in the
// library: its Subscription and its share of the table, after a GC.
func BenchmarkRoutesHeap(b *testing.B) {
	const n = 100000
	for b.Loop() {
		before := heapAlloc()
		r := benchTable(n, func(i int) string { return "dev/" + strconv.Itoa(i) + "/cmd" })
		after := heapAlloc()
		runtime.KeepAlive(r)
		b.ReportMetric(float64(after-before)/n, "B/handler")
	}
}

func heapAlloc() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
