package topic

import (
	"strings"

	"github.com/mqttrpc/mqttrpc/internal/pmap"
)

// Tree maps topic filters to values, one node per level, so that finding
// the filters that match a topic, or overlap a filter, walks the topic's
// levels instead of every filter. Filters are keyed without their
// "$share/group/" prefix, as Match, Overlap and Compare read them, so a
// shared filter and the same filter unshared share a node.
//
// Tree is persistent: Insert and Delete return a new Tree and never write a
// node the old one can reach. The new version copies only the nodes on the
// filter's path, and a node's exact children are a [pmap.Map], so that a
// level with 100,000 children is not copied either. A reader needs no lock:
// whoever holds a Tree sees it as it was made, whatever changes after.
//
// The zero Tree is empty and ready to use.
type Tree[V comparable] struct {
	root *node[V]
	n    int
}

// node is one level of filter. A node reached through '#' only has vals.
type node[V comparable] struct {
	vals  []V                        // of the filters that end here, last inserted first
	exact pmap.Map[string, *node[V]] // children by level
	plus  *node[V]                   // the '+' child
	hash  *node[V]                   // the '#' child
}

func (n *node[V]) empty() bool {
	return len(n.vals) == 0 && n.exact.Len() == 0 && n.plus == nil && n.hash == nil
}

// Len returns the number of values in t.
func (t Tree[V]) Len() int { return t.n }

// Insert returns t with v added for filter, before the values filter already
// has: among values whose filters are the same once "$share/group/" is
// stripped, Match yields the last inserted first.
func (t Tree[V]) Insert(filter string, v V) Tree[V] {
	f, _ := stripShare(filter)
	t.root = t.root.update(f, false, func(vals []V) []V {
		return append([]V{v}, vals...)
	})
	t.n++
	return t
}

// Delete returns t without v for filter, and whether it was there.
func (t Tree[V]) Delete(filter string, v V) (Tree[V], bool) {
	f, _ := stripShare(filter)
	found := false
	root := t.root.update(f, false, func(vals []V) []V {
		for i, have := range vals {
			if have == v {
				found = true
				return append(vals[:i:i], vals[i+1:]...)
			}
		}
		return vals
	})
	if !found {
		return t, false
	}
	t.root, t.n = root, t.n-1
	return t, true
}

// update returns a copy of n, or a new node, with change applied to the
// values of the node filter leads to, or nil if the copy is left empty: a
// node without values or children is dropped. ended reports that filter's
// levels are used up and the values are n's own.
func (n *node[V]) update(filter string, ended bool, change func([]V) []V) *node[V] {
	var c node[V]
	if n != nil {
		c = *n
	}
	if ended {
		c.vals = change(c.vals)
	} else {
		level, rest, more := strings.Cut(filter, "/")
		switch level {
		case "+":
			c.plus = c.plus.update(rest, !more, change)
		case "#":
			c.hash = c.hash.update(rest, !more, change)
		default:
			child, _ := c.exact.Get(level)
			if child = child.update(rest, !more, change); child != nil {
				c.exact = c.exact.Set(level, child)
			} else {
				c.exact = c.exact.Delete(level)
			}
		}
	}
	if c.empty() {
		return nil
	}
	return &c
}

// Get returns the values of filter, stripped of "$share/group/": those of
// every filter that is the same without it.
func (t Tree[V]) Get(filter string) []V {
	f, _ := stripShare(filter)
	n := t.root
	for n != nil {
		level, rest, more := strings.Cut(f, "/")
		switch level {
		case "+":
			n = n.plus
		case "#":
			n = n.hash
		default:
			n, _ = n.exact.Get(level)
		}
		if !more {
			break
		}
		f = rest
	}
	if n == nil {
		return nil
	}
	return n.vals
}

// Match calls yield for the value of every filter that matches the topic
// name, the most specific filter first (see Compare), until yield returns
// false. It reports whether yield stopped it.
//
// Walking exact, then '+', then '#' children at each level yields filters
// in Compare's order: two filters that match the same name differ first at
// a level where one is the name's level or '+' and the other a wildcard
// ranked lower, or where one ends and the other goes on with '#'.
func (t Tree[V]) Match(name string, yield func(V) bool) bool {
	if t.root == nil {
		return false
	}
	if strings.HasPrefix(name, "$") { // a leading wildcard never matches it
		level, rest, more := strings.Cut(name, "/")
		child, _ := t.root.exact.Get(level)
		return child.match(rest, !more, yield)
	}
	return t.root.match(name, false, yield)
}

func (n *node[V]) match(name string, ended bool, yield func(V) bool) bool {
	if n == nil {
		return false
	}
	if ended {
		return yieldAll(n.vals, yield) || n.hash.yieldVals(yield) // "a/#" matches "a"
	}
	level, rest, more := strings.Cut(name, "/")
	child, _ := n.exact.Get(level)
	return child.match(rest, !more, yield) ||
		n.plus.match(rest, !more, yield) ||
		n.hash.yieldVals(yield)
}

func yieldAll[V any](vals []V, yield func(V) bool) bool {
	for _, v := range vals {
		if !yield(v) {
			return true
		}
	}
	return false
}

// Overlapping calls yield for the value of every filter that some topic
// matches as well as filter (see Overlap), in no particular order, until
// yield returns false. A '+' in filter visits every child of its level, so
// that query costs as much as the filters it may overlap.
func (t Tree[V]) Overlapping(filter string, yield func(V) bool) {
	f, _ := stripShare(filter)
	if t.root == nil || f == "" {
		return
	}
	level, rest, more := strings.Cut(f, "/")
	n := t.root
	// A leading wildcard never matches a topic beginning with '$', so it
	// overlaps no filter whose first level is a '$' one, and the other way
	// round.
	if dollar(f) {
		child, _ := n.exact.Get(level)
		child.overlapping(rest, !more, yield)
		return
	}
	if level == "#" || level == "+" {
		n = n.withoutDollar()
	}
	n.overlapping(f, false, yield)
}

// withoutDollar returns n without its exact children whose level begins
// with '$'.
func (n *node[V]) withoutDollar() *node[V] {
	c := *n
	n.exact.All(func(level string, _ *node[V]) bool {
		if strings.HasPrefix(level, "$") {
			c.exact = c.exact.Delete(level)
		}
		return true
	})
	return &c
}

// overlapping reports whether yield kept going.
func (n *node[V]) overlapping(filter string, ended bool, yield func(V) bool) bool {
	if n == nil {
		return true
	}
	if ended { // "a" overlaps "a" and "a/#"
		return !yieldAll(n.vals, yield) && !n.hash.yieldVals(yield)
	}
	level, rest, more := strings.Cut(filter, "/")
	if level == "#" { // "a/#" overlaps "a" and everything below it
		return n.all(yield)
	}
	if n.hash.yieldVals(yield) { // "a/#" overlaps whatever goes on from "a"
		return false
	}
	if level != "+" {
		child, _ := n.exact.Get(level)
		return child.overlapping(rest, !more, yield) && n.plus.overlapping(rest, !more, yield)
	}
	ok := n.plus.overlapping(rest, !more, yield)
	n.exact.All(func(_ string, child *node[V]) bool {
		ok = ok && child.overlapping(rest, !more, yield)
		return ok
	})
	return ok
}

// yieldVals yields the values of n, which may be nil, and reports whether
// yield stopped.
func (n *node[V]) yieldVals(yield func(V) bool) bool {
	return n != nil && yieldAll(n.vals, yield)
}

// All calls yield for every value, in no particular order, until yield
// returns false.
func (t Tree[V]) All(yield func(V) bool) {
	t.root.all(yield)
}

// all reports whether yield kept going.
func (n *node[V]) all(yield func(V) bool) bool {
	if n == nil {
		return true
	}
	if yieldAll(n.vals, yield) {
		return false
	}
	ok := n.plus.all(yield) && n.hash.all(yield)
	n.exact.All(func(_ string, child *node[V]) bool {
		ok = ok && child.all(yield)
		return ok
	})
	return ok
}
