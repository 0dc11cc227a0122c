package main

import (
	"strings"
	"testing"
)

// threePasses is run.sh's output for one case over three passes. Paired by
// pass, mqttrpc's p99 is 1.5, 0.5 and 0.9 times paho's, so the median of the
// paired ratios is 0.90, while the ratio of the medians (200 ÷ 200) would be
// 1.00.
const threePasses = `# pass 1 of 3
BenchmarkRoundTrip/broker=mosquitto/impl=mqttrpc-v5/qos=0/size=16/callers=1-2  2000  300000 ns/op  150000 cpu-ns/op  250.0 p50-µs  300.0 p99-µs  3333 rt/s  18557 B/op  121 allocs/op
BenchmarkRoundTrip/broker=mosquitto/impl=paho-v5/qos=0/size=16/callers=1-2  2000  300000 ns/op  150000 cpu-ns/op  250.0 p50-µs  200.0 p99-µs  3333 rt/s  17960 B/op  123 allocs/op
# pass 2 of 3
BenchmarkRoundTrip/broker=mosquitto/impl=mqttrpc-v5/qos=0/size=16/callers=1-2  2000  300000 ns/op  150000 cpu-ns/op  150.0 p50-µs  200.0 p99-µs  3333 rt/s  18557 B/op  121 allocs/op
BenchmarkRoundTrip/broker=mosquitto/impl=paho-v5/qos=0/size=16/callers=1-2  2000  300000 ns/op  150000 cpu-ns/op  250.0 p50-µs  400.0 p99-µs  3333 rt/s  17960 B/op  123 allocs/op
# pass 3 of 3
BenchmarkRoundTrip/broker=mosquitto/impl=mqttrpc-v5/qos=0/size=16/callers=1-2  2000  300000 ns/op  150000 cpu-ns/op  150.0 p50-µs  180.0 p99-µs  3333 rt/s  18557 B/op  121 allocs/op
BenchmarkRoundTrip/broker=mosquitto/impl=paho-v5/qos=0/size=16/callers=1-2  2000  300000 ns/op  150000 cpu-ns/op  250.0 p50-µs  200.0 p99-µs  3333 rt/s  17960 B/op  123 allocs/op
`

func table(t *testing.T, bench string) string {
	t.Helper()
	results, err := parse(strings.NewReader(bench))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printRoundTrips(&b, results)
	return b.String()
}

func TestLatencyPairedByPass(t *testing.T) {
	out := table(t, threePasses)
	for _, want := range []string{
		// Rows: the median p50 and p99 of each implementation.
		"| broker=mosquitto qos=0 size=16 callers=1 | mqttrpc-v5 | 300000 | 3333 | 150 | 200 |",
		"| broker=mosquitto qos=0 size=16 callers=1 | paho-v5 | 300000 | 3333 | 250 | 200 |",
		// Latency: the median of the paired ratios and their range.
		"| broker=mosquitto qos=0 size=16 callers=1 | 200 | 200 | 0.90 (0.50–1.50) | - | - | - | - | - |",
		"| mosquitto, callers=1 | mqttrpc-v5 ÷ paho-v5 | 0.90 | 0.90 | 0.90 | 1 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestLatencyWorseIsMarked(t *testing.T) {
	bench := strings.NewReplacer("300.0 p99-µs", "900.0 p99-µs", "180.0 p99-µs", "900.0 p99-µs",
		"200.0 p99-µs  3333 rt/s  18557", "900.0 p99-µs  3333 rt/s  18557").Replace(threePasses)
	out := table(t, bench)
	if want := "| 900 | 200 | 4.50 ⚠ (2.25–4.50) |"; !strings.Contains(out, want) {
		t.Errorf("no %q in\n%s", want, out)
	}
}

func TestNoLatencyTableWithoutPercentiles(t *testing.T) {
	var old strings.Builder
	for line := range strings.Lines(threePasses) {
		f := strings.Fields(line)
		if len(f) > 8 && strings.HasSuffix(f[7], "-µs") {
			// Drop the p50 and p99 pairs, as output made before they were reported.
			f = append(f[:6], f[10:]...)
		}
		old.WriteString(strings.Join(f, " ") + "\n")
	}
	out := table(t, old.String())
	if strings.Contains(out, "Latency") {
		t.Errorf("latency table without percentiles in the input:\n%s", out)
	}
	if !strings.Contains(out, "| 1.00 (1.00–1.00) | 1.00 | -2 |") {
		t.Errorf("throughput ratio missing:\n%s", out)
	}
}
