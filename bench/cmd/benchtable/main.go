// Command benchtable reads `go test -bench` output on stdin and prints
// Markdown tables of the median of every metric per benchmark, and, for
// BenchmarkRoundTrip, how mqttrpc's throughput and 99th percentile latency
// compare with the same exchange hand-written on the Paho client it is
// built on.
//
// Medians rather than means, so that one disturbed run (another process
// taking a core) does not move the figure.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// pairs compares each mqttrpc transport with the raw client under it: on
// MQTT 5 with a bare paho.Client (what a user would otherwise write) and, in
// brief, with autopaho (the layer mqttrpc runs on).
var pairs = []pair{
	{"mqttrpc-v5", "paho-v5", false},
	{"mqttrpc-v5", "autopaho-v5", true},
	{"mqttrpc-v311", "paho-v311", false},
}

// pair is an mqttrpc implementation and the raw client it is compared with.
type pair struct {
	lib, raw string
	brief    bool // only the raw client's rt/s and the ratio: lib's columns are already shown
}

// result holds every value seen for one benchmark, by unit.
type result struct {
	name   string
	values map[string][]float64
}

func main() {
	results, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark lines on stdin")
		os.Exit(1)
	}
	printRoundTrips(os.Stdout, results)
	printOthers(os.Stdout, results)
}

// cpuSuffix is the -GOMAXPROCS suffix go test adds to a benchmark's name.
var cpuSuffix = regexp.MustCompile(`-\d+$`)

// parse reads lines like
//
//	BenchmarkX/a=1-2   2000   51234 ns/op   12345 rt/s   1234 B/op   23 allocs/op
//
// and keeps every value by benchmark and unit, in the order first seen.
func parse(r io.Reader) ([]*result, error) {
	var order []*result
	byName := map[string]*result{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // not a result line
		}
		name := cpuSuffix.ReplaceAllString(f[0], "")
		res := byName[name]
		if res == nil {
			res = &result{name: name, values: map[string][]float64{}}
			byName[name] = res
			order = append(order, res)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.values[f[i+1]] = append(res.values[f[i+1]], v)
		}
	}
	return order, sc.Err()
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratios pairs the runs of a and b in order and returns the median, lowest
// and highest a[i]/b[i]. Runs made in the same pass share whatever else the
// machine was doing then, so their ratio is steadier than a ratio of medians;
// when the run counts differ, pairing means nothing and the ratio of the
// medians is returned for all three.
func ratios(a, b []float64) (med, lo, hi float64) {
	if len(a) != len(b) || len(a) == 0 {
		r := median(a) / median(b)
		return r, r, r
	}
	rs := make([]float64, len(a))
	for i := range a {
		rs[i] = a[i] / b[i]
	}
	return median(rs), slices.Min(rs), slices.Max(rs)
}

// med returns the median of unit for r, and whether r has it.
func (r *result) med(unit string) (float64, bool) {
	vs, ok := r.values[unit]
	return median(vs), ok
}

// roundTrip splits "BenchmarkRoundTrip/broker=b/impl=i/qos=q/size=s/callers=c"
// into the case (everything but impl) and the impl.
func roundTrip(name string) (caseKey, impl string, ok bool) {
	parts := strings.Split(name, "/")
	if parts[0] != "BenchmarkRoundTrip" {
		return "", "", false
	}
	var rest []string
	for _, p := range parts[1:] {
		if v, found := strings.CutPrefix(p, "impl="); found {
			impl = v
		} else {
			rest = append(rest, p)
		}
	}
	return strings.Join(rest, " "), impl, impl != ""
}

// cases is BenchmarkRoundTrip's results by case and implementation, the cases
// in the order first seen.
type cases struct {
	names  []string
	byCase map[string]map[string]*result
}

func groupRoundTrips(results []*result) cases {
	cs := cases{byCase: map[string]map[string]*result{}}
	for _, r := range results {
		c, impl, ok := roundTrip(r.name)
		if !ok {
			continue
		}
		if cs.byCase[c] == nil {
			cs.byCase[c] = map[string]*result{}
			cs.names = append(cs.names, c)
		}
		cs.byCase[c][impl] = r
	}
	return cs
}

// has reports whether any result of any case has unit, so that a table of it
// is left out for output made before the harness reported it.
func (cs cases) has(unit string) bool {
	for _, impls := range cs.byCase {
		for _, r := range impls {
			if _, ok := r.values[unit]; ok {
				return true
			}
		}
	}
	return false
}

func printRoundTrips(w io.Writer, results []*result) {
	cs := groupRoundTrips(results)
	if len(cs.names) == 0 {
		return
	}
	printRows(w, cs)
	printThroughput(w, cs)
	if cs.has("p99-µs") {
		printLatency(w, cs)
	}
}

// printRows prints every implementation of every case with its own medians.
func printRows(w io.Writer, cs cases) {
	fmt.Fprintln(w, "## Round trips (medians)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "cpu-ns/op is the benchmark process's CPU time per round trip (getrusage: both clients, requester and")
	fmt.Fprintln(w, "responder; the broker too when it is embedded); broker-cpu-ns/op that of a broker running as a process")
	fmt.Fprintln(w, "of its own (mosquitto, from /proc on Linux).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| case | impl | ns/op | rt/s | p50-µs | p99-µs | cpu-ns/op | broker-cpu-ns/op | allocs/op | B/op | lost/op | runs |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range cs.names {
		impls := cs.byCase[c]
		names := make([]string, 0, len(impls))
		for n := range impls {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int { return strings.Compare(implRank(a), implRank(b)) })
		for _, n := range names {
			r := impls[n]
			lost := "-"
			if v, ok := r.med("lost/op"); ok {
				lost = fmt.Sprintf("%.4f", v)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", c, n,
				num(r, "ns/op"), num(r, "rt/s"), num(r, "p50-µs"), num(r, "p99-µs"),
				num(r, "cpu-ns/op"), num(r, "broker-cpu-ns/op"), num(r, "allocs/op"), num(r, "B/op"), lost, len(r.values["ns/op"]))
		}
	}
	fmt.Fprintln(w)
}

// printThroughput compares each pair's round trips per second, case by case,
// then per broker.
func printThroughput(w io.Writer, cs cases) {
	fmt.Fprintln(w, "## mqttrpc vs the raw Paho client (medians)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratio = mqttrpc rt/s ÷ raw rt/s, the median over runs paired in order (run i of one with run i of the")
	fmt.Fprintln(w, "other, which run.sh makes in the same pass), with its range; paho-v5 is a bare paho.Client, autopaho-v5")
	fmt.Fprintln(w, "the same code on autopaho; cpu ratio = mqttrpc cpu-ns/op ÷ raw")
	fmt.Fprintln(w, "cpu-ns/op (medians; this process only, so without mosquitto's share); Δallocs = mqttrpc allocs/op − raw allocs/op.")
	fmt.Fprintln(w)
	printHeader(w, func(p pair) []string {
		if p.brief {
			return []string{p.raw + " rt/s", "ratio to " + p.raw}
		}
		return []string{p.lib + " rt/s", p.raw + " rt/s", "ratio", "cpu ratio", "Δallocs"}
	}, "paho-rpc rt/s", "nats rt/s")
	var sum summary
	for _, c := range cs.names {
		impls := cs.byCase[c]
		fmt.Fprintf(w, "| %s |", c)
		for i, p := range pairs {
			lib, raw := impls[p.lib], impls[p.raw]
			if !p.brief {
				fmt.Fprintf(w, " %s |", num(lib, "rt/s"))
			}
			fmt.Fprintf(w, " %s |", num(raw, "rt/s"))
			ratio, lo, hi, ok := pairRatio(lib, raw, "rt/s")
			if !ok {
				if p.brief {
					fmt.Fprint(w, " - |")
				} else {
					fmt.Fprint(w, " - | - | - |")
				}
				continue
			}
			sum.add(i, caseField(c, "broker"), ratio)
			cell := ratioCell(ratio, lo, hi, ratio < 0.95, p.brief)
			if p.brief {
				fmt.Fprintf(w, " %s |", cell)
				continue
			}
			la, _ := lib.med("allocs/op")
			ra, _ := raw.med("allocs/op")
			fmt.Fprintf(w, " %s | %s | %+.0f |", cell, cpuRatio(lib, raw), la-ra)
		}
		fmt.Fprintf(w, " %s | %s |\n", num(impls["paho-rpc"], "rt/s"), num(impls["nats"], "rt/s"))
	}
	fmt.Fprintln(w)
	sum.print(w, "## Summary: median over cases of the per-case ratio", "broker", "median ratio")
}

// printLatency compares each pair's 99th percentile round trip, case by case,
// then per broker and number of callers: a lone caller's tail is a claim of
// its own, which the load of 64 callers would hide in a summary over both.
func printLatency(w io.Writer, cs cases) {
	fmt.Fprintln(w, "## Latency: mqttrpc vs the raw Paho client (medians)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "p99-µs = the 99th percentile of one run's round trips, each timed as its caller saw it (with 64 callers,")
	fmt.Fprintln(w, "the wait behind the others included); the columns show its median over runs. p99 ratio = mqttrpc p99-µs ÷ raw")
	fmt.Fprintln(w, "p99-µs, paired in order as above, with its range: below 1 mqttrpc's tail is shorter, above 1 longer.")
	fmt.Fprintln(w)
	printHeader(w, func(p pair) []string {
		if p.brief {
			return []string{p.raw + " p99-µs", "p99 ratio to " + p.raw + " (≤1 is better)"}
		}
		return []string{p.lib + " p99-µs", p.raw + " p99-µs", "p99 ratio (≤1 is better)"}
	})
	var sum summary
	for _, c := range cs.names {
		impls := cs.byCase[c]
		fmt.Fprintf(w, "| %s |", c)
		for i, p := range pairs {
			lib, raw := impls[p.lib], impls[p.raw]
			if !p.brief {
				fmt.Fprintf(w, " %s |", num(lib, "p99-µs"))
			}
			fmt.Fprintf(w, " %s |", num(raw, "p99-µs"))
			ratio, lo, hi, ok := pairRatio(lib, raw, "p99-µs")
			if !ok {
				fmt.Fprint(w, " - |")
				continue
			}
			sum.add(i, caseField(c, "broker")+", callers="+caseField(c, "callers"), ratio)
			fmt.Fprintf(w, " %s |", ratioCell(ratio, lo, hi, ratio > 1.05, p.brief))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	sum.print(w, "## Summary: median over cases of the per-case p99 ratio (≤1 is better)", "broker, callers", "median p99 ratio")
}

// printHeader writes the head of a table of cases: the case, then the
// columns cells names for each pair, then tail; every column but the first
// aligned right.
func printHeader(w io.Writer, cells func(p pair) []string, tail ...string) {
	cols := []string{"case"}
	for _, p := range pairs {
		cols = append(cols, cells(p)...)
	}
	cols = append(cols, tail...)
	fmt.Fprintf(w, "| %s |\n", strings.Join(cols, " | "))
	fmt.Fprintln(w, "|---|"+strings.Repeat("---:|", len(cols)-1))
}

// pairRatio returns the paired ratio of unit, lib over raw (see ratios), and
// whether both sides have it.
func pairRatio(lib, raw *result, unit string) (med, lo, hi float64, ok bool) {
	if lib == nil || raw == nil {
		return 0, 0, 0, false
	}
	l, okL := lib.values[unit]
	r, okR := raw.values[unit]
	if !okL || !okR {
		return 0, 0, 0, false
	}
	med, lo, hi = ratios(l, r)
	return med, lo, hi, true
}

// ratioCell formats a paired ratio, marked ⚠ when worse, with its range
// unless brief.
func ratioCell(med, lo, hi float64, worse, brief bool) string {
	mark := ""
	if worse {
		mark = " ⚠"
	}
	if brief {
		return fmt.Sprintf("%.2f%s", med, mark)
	}
	return fmt.Sprintf("%.2f%s (%.2f–%.2f)", med, mark, lo, hi)
}

// summary collects each pair's per-case ratios by group (a broker, say), the
// groups in the order first seen.
type summary struct {
	groups []string
	ratios map[summaryKey][]float64
}

type summaryKey struct {
	pair  int // index in pairs
	group string
}

func (s *summary) add(pair int, group string, ratio float64) {
	if s.ratios == nil {
		s.ratios = map[summaryKey][]float64{}
	}
	if !slices.Contains(s.groups, group) {
		s.groups = append(s.groups, group)
	}
	k := summaryKey{pair, group}
	s.ratios[k] = append(s.ratios[k], ratio)
}

// print prints the median, lowest and highest ratio of every pair in every
// group, nothing when there are none.
func (s *summary) print(w io.Writer, title, groupCol, ratioCol string) {
	if len(s.ratios) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| %s | pair | %s | lowest | highest | cases |\n", groupCol, ratioCol)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	for _, g := range s.groups {
		for i, p := range pairs {
			rs := s.ratios[summaryKey{i, g}]
			if len(rs) == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %s ÷ %s | %.2f | %.2f | %.2f | %d |\n", g, p.lib, p.raw, median(rs), slices.Min(rs), slices.Max(rs), len(rs))
		}
	}
	fmt.Fprintln(w)
}

// caseField returns the key= part of a case, or "" when there is none.
func caseField(c, key string) string {
	for _, f := range strings.Fields(c) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// cpuRatio formats the ratio of the median CPU per round trip, "-" when a
// side has none.
func cpuRatio(lib, raw *result) string {
	l, okL := lib.med("cpu-ns/op")
	r, okR := raw.med("cpu-ns/op")
	if !okL || !okR || r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", l/r)
}

// implRank orders a case's rows: each mqttrpc transport beside its raw client.
func implRank(impl string) string {
	for i, p := range pairs {
		switch impl {
		case p.lib:
			return fmt.Sprintf("%d0", i)
		case p.raw:
			return fmt.Sprintf("%d1", i)
		}
	}
	return "9" + impl
}

// printOthers prints every other benchmark with all its units.
func printOthers(w io.Writer, results []*result) {
	var rest []*result
	units := map[string]bool{}
	for _, r := range results {
		if _, _, ok := roundTrip(r.name); ok {
			continue
		}
		rest = append(rest, r)
		for u := range r.values {
			units[u] = true
		}
	}
	if len(rest) == 0 {
		return
	}
	cols := make([]string, 0, len(units))
	for u := range units {
		cols = append(cols, u)
	}
	slices.Sort(cols)
	fmt.Fprintln(w, "## Other benchmarks (medians)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| benchmark | %s | runs |\n", strings.Join(cols, " | "))
	fmt.Fprintf(w, "|---|%s---:|\n", strings.Repeat("---:|", len(cols)))
	for _, r := range rest {
		fmt.Fprintf(w, "| %s |", strings.TrimPrefix(r.name, "Benchmark"))
		for _, u := range cols {
			fmt.Fprintf(w, " %s |", num(r, u))
		}
		fmt.Fprintf(w, " %d |\n", len(r.values["ns/op"]))
	}
	fmt.Fprintln(w)
}

// num formats the median of unit for r, "-" when absent.
func num(r *result, unit string) string {
	if r == nil {
		return "-"
	}
	v, ok := r.med(unit)
	switch {
	case !ok:
		return "-"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
