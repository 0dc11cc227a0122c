package pmap

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// collider hashes to one of few values, so that keys share all 64 bits of
// their hash and the trie's collision lists are used.
type collider struct{ k int }

func (c collider) Hash() uint64 { return uint64(c.k % 3) }

// check compares m with want in every way Map can be read.
func check[K comparable](t *testing.T, m Map[K, int], want map[K]int, absent K) {
	t.Helper()
	if m.Len() != len(want) {
		t.Fatalf("Len %d, want %d", m.Len(), len(want))
	}
	for k, v := range want {
		if got, ok := m.Get(k); !ok || got != v {
			t.Fatalf("Get(%v) = %d, %v; want %d", k, got, ok, v)
		}
	}
	if _, ok := m.Get(absent); ok {
		t.Fatalf("Get(%v) found a key never set", absent)
	}
	seen := 0
	m.All(func(k K, v int) bool {
		if want[k] != v {
			t.Fatalf("All: %v = %d, want %d", k, v, want[k])
		}
		seen++
		return true
	})
	if seen != len(want) {
		t.Fatalf("All saw %d keys, want %d", seen, len(want))
	}
}

// exercise sets and deletes random keys, checking after every change that
// the new version is right and that the version before it is unchanged.
func exercise[K comparable](t *testing.T, key func(int) K, keys int) {
	r := rand.New(rand.NewPCG(1, 2))
	var m Map[K, int]
	want := map[K]int{}
	for i := range 4 * keys {
		k, v := key(r.IntN(keys)), i
		before, old := m, clone(want)
		if r.IntN(3) == 0 {
			m = m.Delete(k)
			delete(want, k)
		} else {
			m = m.Set(k, v)
			want[k] = v
		}
		check(t, m, want, key(keys+1))
		if i%97 == 0 {
			check(t, before, old, key(keys+1))
		}
	}
	for k := range clone(want) {
		m = m.Delete(k)
		delete(want, k)
	}
	check(t, m, want, key(keys+1))
	if m.root.slots != nil {
		t.Fatal("an empty map keeps nodes")
	}
}

func clone[K comparable](m map[K]int) map[K]int {
	c := make(map[K]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestInts(t *testing.T) {
	exercise(t, func(i int) int { return i }, 3000)
}

func TestIntsSharingLowBits(t *testing.T) {
	// Keys that differ only above bit 55 go down to the last levels.
	exercise(t, func(i int) int { return i<<56 | 7 }, 120)
}

func TestStrings(t *testing.T) {
	exercise(t, func(i int) string {
		return string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}, 2000)
}

func TestCollisions(t *testing.T) {
	exercise(t, func(i int) collider { return collider{i} }, 60)
}

func TestAllStops(t *testing.T) {
	var m Map[int, int]
	for i := range 100 {
		m = m.Set(i, i)
	}
	n := 0
	m.All(func(int, int) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("All went on after yield returned false: %d calls", n)
	}
}

func BenchmarkGet(b *testing.B) {
	for _, n := range []int{1, 1000, 100000} {
		var m Map[string, int]
		keys := make([]string, n)
		for i := range n {
			keys[i] = fmt.Sprintf("dev/%d", i)
			m = m.Set(keys[i], i)
		}
		b.Run(itoa(n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				m.Get(keys[i%n])
			}
		})
		g := make(map[string]int, n)
		for i, k := range keys {
			g[k] = i
		}
		b.Run("gomap-"+itoa(n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				_ = g[keys[i%n]]
			}
		})
	}
}

func itoa(n int) string {
	switch n {
	case 1:
		return "1"
	case 1000:
		return "1k"
	}
	return "100k"
}
