package topic

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomLevels returns 1 to 4 levels from a small alphabet, so that random
// filters and topics often meet: exact levels, an empty one, a '$' one (at
// the start, where MQTT treats it apart) and, for filters, '+' and a last
// '#'.
func randomLevels(r *rand.Rand, wildcards bool) []string {
	alphabet := []string{"a", "b", "", "$x"}
	if wildcards {
		alphabet = append(alphabet, "+", "+", "#")
	}
	levels := make([]string, 1+r.IntN(4))
	for i := range levels {
		levels[i] = alphabet[r.IntN(len(alphabet))]
		for levels[i] == "#" && i < len(levels)-1 {
			levels[i] = alphabet[r.IntN(len(alphabet))]
		}
	}
	return levels
}

// randomFilter returns a valid filter, shared one time in five.
func randomFilter(r *rand.Rand) string {
	for {
		f := strings.Join(randomLevels(r, true), "/")
		switch r.IntN(5) {
		case 0:
			f = "$share/g/" + f
		case 1:
			f = "$share/h/" + f
		}
		if ValidFilter(f) == nil {
			return f
		}
	}
}

// randomName returns a topic name, which may have empty levels: MQTT
// allows them in what a broker delivers.
func randomName(r *rand.Rand) string {
	for {
		if name := strings.Join(randomLevels(r, false), "/"); name != "" {
			return name
		}
	}
}

// model is the brute-force reference: the filters inserted, in order.
type model struct{ filters []string }

// match lists the filters that match name, the most specific first and,
// between filters that Compare ties, the last inserted first.
func (m *model) match(name string) []string {
	var out []string
	for i := len(m.filters) - 1; i >= 0; i-- {
		if Match(m.filters[i], name) {
			out = append(out, m.filters[i])
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return Compare(b, a) })
	return out
}

func (m *model) overlapping(filter string) []string {
	var out []string
	for _, f := range m.filters {
		if Overlap(f, filter) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

func (m *model) get(filter string) []string {
	f, _ := stripShare(filter)
	var out []string
	for i := len(m.filters) - 1; i >= 0; i-- {
		if g, _ := stripShare(m.filters[i]); g == f {
			out = append(out, m.filters[i])
		}
	}
	return out
}

func collect(walk func(func(string) bool)) []string {
	var out []string
	walk(func(v string) bool { out = append(out, v); return true })
	return out
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

// checkTree compares every way of reading tr with the brute force.
func checkTree(t *testing.T, r *rand.Rand, tr Tree[string], m *model) {
	t.Helper()
	if tr.Len() != len(m.filters) {
		t.Fatalf("Len %d, want %d", tr.Len(), len(m.filters))
	}
	if got, want := sorted(collect(tr.All)), sorted(slices.Clone(m.filters)); !slices.Equal(got, want) {
		t.Fatalf("All = %q, want %q", got, want)
	}
	for range 20 {
		name := randomName(r)
		got := collect(func(y func(string) bool) { tr.Match(name, y) })
		if want := m.match(name); !slices.Equal(got, want) {
			t.Fatalf("Match(%q) = %q, want %q (most specific first)", name, got, want)
		}
		filter := randomFilter(r)
		got = sorted(collect(func(y func(string) bool) { tr.Overlapping(filter, y) }))
		if want := m.overlapping(filter); !slices.Equal(got, want) {
			t.Fatalf("Overlapping(%q) = %q, want %q", filter, got, want)
		}
		if got, want := tr.Get(filter), m.get(filter); !slices.Equal(got, want) {
			t.Fatalf("Get(%q) = %q, want %q", filter, got, want)
		}
	}
}

// TestTreeAgainstBruteForce inserts and deletes random filters, and after
// every change compares the tree with Match, Overlap and Compare applied to
// every filter, and the version before the change with what it held then.
func TestTreeAgainstBruteForce(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		var tr Tree[string]
		m := &model{}
		for step := range 150 {
			before, old := tr, &model{filters: slices.Clone(m.filters)}
			if f := randomFilter(r); !slices.Contains(m.filters, f) && r.IntN(3) > 0 {
				tr = tr.Insert(f, f)
				m.filters = append(m.filters, f)
			} else if len(m.filters) > 0 {
				f := m.filters[r.IntN(len(m.filters))]
				var ok bool
				if tr, ok = tr.Delete(f, f); !ok {
					t.Fatalf("Delete(%q) did not find it", f)
				}
				m.filters = slices.DeleteFunc(m.filters, func(g string) bool { return g == f })
			}
			checkTree(t, r, tr, m)
			if step%10 == 0 {
				checkTree(t, r, before, old)
			}
		}
	}
}

func TestTreeDeleteAbsent(t *testing.T) {
	tr := Tree[string]{}.Insert("a/+", "x")
	for _, f := range []string{"a/+", "a/b", "a", "a/+/c"} {
		if _, ok := tr.Delete(f, "y"); ok {
			t.Errorf("Delete(%q, y) found a value never inserted", f)
		}
	}
	tr, _ = tr.Delete("a/+", "x")
	if tr.root != nil || tr.Len() != 0 {
		t.Error("an emptied tree keeps nodes")
	}
}

func TestTreeMatchStops(t *testing.T) {
	var tr Tree[string]
	for _, f := range []string{"a/b", "a/+", "+/b", "#", "a/#"} {
		tr = tr.Insert(f, f)
	}
	var got []string
	stopped := tr.Match("a/b", func(f string) bool { got = append(got, f); return len(got) < 2 })
	if !stopped || !slices.Equal(got, []string{"a/b", "a/+"}) {
		t.Errorf("Match stopped %v after %q, want after a/b and a/+", stopped, got)
	}
}
