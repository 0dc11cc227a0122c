// Package pmap is a persistent hash map: a hash array mapped trie whose
// every change returns a new map and leaves the old one intact.
//
// A new version shares every node with the old one except the few on the
// path to the changed key (about log32 n of them), so a change costs
// O(log n) time and garbage however big the map is, and a reader holding a
// version needs no lock: nothing it can reach is ever written again. The
// Broker's handler table is built on it so that a registration does not
// copy the whole table while the dispatcher keeps reading without a lock.
package pmap

import (
	"hash/maphash"
	"math/bits"
)

// Map maps keys of type K to values of type V. The zero Map is empty and
// ready to use. Map is a value: pass and store it freely.
type Map[K comparable, V any] struct {
	root trie[K, V]
	n    int
}

// bitsPerLevel hash bits choose a slot at each level of the trie; below
// maxShift the hash is used up and keys that collide in all 64 bits share a
// list.
const (
	bitsPerLevel = 5
	maxShift     = 64
)

// trie holds the slots of the hash values present at its level, in the
// order of those values: bitmap has a bit set for each. A slot holds its
// subtrie by value, so that going one level down reads one array, not a
// node and then its array: with 100,000 keys, each read of memory not in
// the cache costs about as much as the rest of a lookup.
type trie[K comparable, V any] struct {
	bitmap uint32
	slots  []slot[K, V]
}

// slot is a key and its value, or, if sub has slots, the trie one level
// down.
type slot[K comparable, V any] struct {
	key K
	val V
	sub trie[K, V]
}

func (s *slot[K, V]) leaf() bool { return s.sub.slots == nil }

var seed = maphash.MakeSeed()

// Hasher is a key that hashes itself. Tests use it to make keys collide.
type Hasher interface{ Hash() uint64 }

// hash hashes strings with maphash and uses integers as they are: the
// table's integer keys are identifiers given out in sequence, which fill
// the trie evenly from the lowest bits.
func hash[K comparable](k K) uint64 {
	// One conversion to any per case: the one whose method is called
	// escapes, and the others must not allocate.
	if s, ok := any(k).(string); ok {
		return maphash.String(seed, s)
	}
	if i, ok := any(k).(int); ok {
		return uint64(i)
	}
	if h, ok := any(k).(Hasher); ok {
		return h.Hash()
	}
	return maphash.Comparable(seed, k)
}

// Len returns the number of keys.
func (m Map[K, V]) Len() int { return m.n }

// Get returns the value of k and whether k is present.
func (m Map[K, V]) Get(k K) (v V, ok bool) {
	h := hash(k)
	t := m.root
	for shift := 0; t.slots != nil; shift += bitsPerLevel {
		if shift >= maxShift {
			return t.collided(k)
		}
		bit := uint32(1) << (h >> shift & 31)
		if t.bitmap&bit == 0 {
			return v, false
		}
		s := &t.slots[bits.OnesCount32(t.bitmap&(bit-1))]
		if s.leaf() {
			if s.key == k {
				return s.val, true
			}
			return v, false
		}
		t = s.sub
	}
	return v, false
}

func (t trie[K, V]) collided(k K) (v V, ok bool) {
	for _, s := range t.slots {
		if s.key == k {
			return s.val, true
		}
	}
	return v, false
}

// Set returns m with k mapped to v.
func (m Map[K, V]) Set(k K, v V) Map[K, V] {
	root, added := m.root.set(k, hash(k), v, 0)
	if added {
		m.n++
	}
	m.root = root
	return m
}

// set returns a copy of t with k set, and whether k is new. Only the slots
// on k's path are copied; t itself is never written.
func (t trie[K, V]) set(k K, h uint64, v V, shift int) (trie[K, V], bool) {
	if shift >= maxShift {
		return t.setCollided(k, v)
	}
	bit := uint32(1) << (h >> shift & 31)
	i := bits.OnesCount32(t.bitmap & (bit - 1))
	c := trie[K, V]{bitmap: t.bitmap | bit}
	if t.bitmap&bit == 0 {
		c.slots = make([]slot[K, V], len(t.slots)+1)
		copy(c.slots, t.slots[:i])
		copy(c.slots[i+1:], t.slots[i:])
		c.slots[i] = slot[K, V]{key: k, val: v}
		return c, true
	}
	c.slots = append([]slot[K, V](nil), t.slots...)
	s := &c.slots[i]
	switch {
	case !s.leaf():
		var added bool
		s.sub, added = s.sub.set(k, h, v, shift+bitsPerLevel)
		return c, added
	case s.key == k:
		s.val = v
		return c, false
	}
	// Another key has this slot: both go one level down.
	sub, _ := trie[K, V]{}.set(s.key, hash(s.key), s.val, shift+bitsPerLevel)
	sub, _ = sub.set(k, h, v, shift+bitsPerLevel)
	*s = slot[K, V]{sub: sub}
	return c, true
}

func (t trie[K, V]) setCollided(k K, v V) (trie[K, V], bool) {
	c := trie[K, V]{slots: append([]slot[K, V](nil), t.slots...)}
	for i := range c.slots {
		if c.slots[i].key == k {
			c.slots[i].val = v
			return c, false
		}
	}
	c.slots = append(c.slots, slot[K, V]{key: k, val: v})
	return c, true
}

// Delete returns m without k.
func (m Map[K, V]) Delete(k K) Map[K, V] {
	root, deleted := m.root.delete(k, hash(k), 0)
	if deleted {
		m.n--
		m.root = root
	}
	return m
}

// delete returns a copy of t without k, and whether k was there. A subtrie
// left with a single key is folded into its parent, so that the trie stays
// as shallow as its keys require.
func (t trie[K, V]) delete(k K, h uint64, shift int) (trie[K, V], bool) {
	if t.slots == nil {
		return t, false
	}
	if shift >= maxShift {
		for i, s := range t.slots {
			if s.key == k {
				return t.without(i, 0), true
			}
		}
		return t, false
	}
	bit := uint32(1) << (h >> shift & 31)
	if t.bitmap&bit == 0 {
		return t, false
	}
	i := bits.OnesCount32(t.bitmap & (bit - 1))
	s := &t.slots[i]
	if s.leaf() {
		if s.key != k {
			return t, false
		}
		return t.without(i, bit), true
	}
	sub, deleted := s.sub.delete(k, h, shift+bitsPerLevel)
	switch {
	case !deleted:
		return t, false
	case sub.slots == nil:
		return t.without(i, bit), true
	}
	c := trie[K, V]{bitmap: t.bitmap, slots: append([]slot[K, V](nil), t.slots...)}
	if len(sub.slots) == 1 && sub.slots[0].leaf() {
		c.slots[i] = sub.slots[0] // fold a lone key up
	} else {
		c.slots[i] = slot[K, V]{sub: sub}
	}
	return c, true
}

// without returns a copy of t without slot i, whose bit is bit.
func (t trie[K, V]) without(i int, bit uint32) trie[K, V] {
	if len(t.slots) == 1 {
		return trie[K, V]{}
	}
	c := trie[K, V]{bitmap: t.bitmap &^ bit, slots: make([]slot[K, V], 0, len(t.slots)-1)}
	c.slots = append(append(c.slots, t.slots[:i]...), t.slots[i+1:]...)
	return c
}

// All calls yield for every key and value, in no particular order, until
// yield returns false.
func (m Map[K, V]) All(yield func(K, V) bool) {
	m.root.all(yield)
}

func (t trie[K, V]) all(yield func(K, V) bool) bool {
	for i := range t.slots {
		s := &t.slots[i]
		if !s.leaf() {
			if !s.sub.all(yield) {
				return false
			}
		} else if !yield(s.key, s.val) {
			return false
		}
	}
	return true
}
