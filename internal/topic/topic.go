// Package topic validates MQTT topic names and filters and matches one against
// the other, as MQTT 5.0 section 4.7 defines them.
package topic

import (
	"cmp"
	"errors"
	"strings"
	"unicode/utf8"
)

// maxLen is the longest topic MQTT can carry: a two-byte length prefix.
const maxLen = 65535

var (
	errEmpty      = errors.New("empty")
	errTooLong    = errors.New("longer than 65535 bytes")
	errBadUTF8    = errors.New("not valid UTF-8")
	errNUL        = errors.New("contains U+0000")
	errWildcard   = errors.New("contains a wildcard (+ or #)")
	errEmptyLevel = errors.New("has an empty level")
	errPlus       = errors.New("'+' must fill a whole level")
	errHash       = errors.New("'#' must fill the last level")
	errShare      = errors.New("malformed shared subscription")
)

func checkString(s string) error {
	switch {
	case s == "":
		return errEmpty
	case len(s) > maxLen:
		return errTooLong
	case !utf8.ValidString(s):
		return errBadUTF8
	case strings.IndexByte(s, 0) >= 0:
		return errNUL
	}
	return nil
}

// ValidName reports why name cannot be published to, or nil. Beyond what MQTT
// forbids (wildcards), it rejects empty levels ("a//b", "/a", "a/"): they are
// legal but almost always a bug in building the topic, and they make a request
// unanswerable by any handler subscribed to the intended topic.
func ValidName(name string) error {
	if err := checkString(name); err != nil {
		return err
	}
	if strings.ContainsAny(name, "+#") {
		return errWildcard
	}
	for level := range strings.SplitSeq(name, "/") {
		if level == "" {
			return errEmptyLevel
		}
	}
	return nil
}

// ValidFilter reports why filter cannot be subscribed to, or nil. Shared
// subscriptions ($share/group/filter) are accepted.
func ValidFilter(filter string) error {
	if err := checkString(filter); err != nil {
		return err
	}
	f, shared := stripShare(filter)
	if shared && f == "" {
		return errShare
	}
	levels := strings.Split(f, "/")
	for i, level := range levels {
		switch {
		case strings.Contains(level, "#"):
			if level != "#" || i != len(levels)-1 {
				return errHash
			}
		case strings.Contains(level, "+"):
			if level != "+" {
				return errPlus
			}
		}
	}
	return nil
}

// stripShare removes a "$share/group/" prefix and reports whether it was there.
func stripShare(filter string) (string, bool) {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return filter, false
	}
	group, f, ok := strings.Cut(rest, "/")
	if !ok || group == "" || strings.ContainsAny(group, "+#") {
		return "", true
	}
	return f, true
}

// Match reports whether the topic name matches the filter. A leading wildcard
// does not match topics beginning with '$', as MQTT requires.
func Match(filter, name string) bool {
	filter, _ = stripShare(filter)
	if filter == "" {
		return false
	}
	if strings.HasPrefix(name, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if fl != "+" && fl != nl {
			return false
		}
		if !fmore || !nmore {
			// "a/#" also matches "a": the '#' covers the parent level.
			return fmore == nmore || (fmore && frest == "#")
		}
		filter, name = frest, nrest
	}
}

// Wildcard reports whether filter contains '+' or '#'.
func Wildcard(filter string) bool {
	return strings.ContainsAny(filter, "+#")
}

// ValidReplyTopic reports why name, a Response Topic chosen by another
// client, cannot be published to, or nil. Only MQTT's own rules apply: the
// stricter checks of ValidName are for topics this library builds.
func ValidReplyTopic(name string) error {
	if err := checkString(name); err != nil {
		return err
	}
	if strings.ContainsAny(name, "+#") {
		return errWildcard
	}
	return nil
}

// Overlap reports whether some topic matches both filters.
func Overlap(a, b string) bool {
	a, _ = stripShare(a)
	b, _ = stripShare(b)
	if a == "" || b == "" {
		return false
	}
	if dollar(a) && wildcardLevel(b) || dollar(b) && wildcardLevel(a) {
		return false // a leading wildcard never matches a $ topic
	}
	for {
		al, arest, amore := strings.Cut(a, "/")
		bl, brest, bmore := strings.Cut(b, "/")
		if al == "#" || bl == "#" {
			return true
		}
		if al != bl && al != "+" && bl != "+" {
			return false
		}
		switch {
		case !amore && !bmore:
			return true
		case !amore: // "x" and "x/#"
			return brest == "#"
		case !bmore:
			return arest == "#"
		}
		a, b = arest, brest
	}
}

func dollar(filter string) bool { return strings.HasPrefix(filter, "$") }

func wildcardLevel(filter string) bool { return filter[0] == '+' || filter[0] == '#' }

// Compare orders filters by how specific they are, for a topic both match:
// it returns +1 if a is more specific than b, -1 if less, 0 if they are the
// same filter. Levels are compared from the first: an exact level beats '+',
// '+' beats '#', and a filter that ends beats one that goes on with '#'
// ("a/b" beats "a/b/#"). Exact levels that differ are ordered by text, which
// only matters for filters that cannot overlap, and keeps the order total.
func Compare(a, b string) int {
	a, _ = stripShare(a)
	b, _ = stripShare(b)
	for {
		if a == b {
			return 0
		}
		if a == "" || b == "" { // one ended where the other goes on
			if a == "" {
				return +1
			}
			return -1
		}
		al, arest, _ := strings.Cut(a, "/")
		bl, brest, _ := strings.Cut(b, "/")
		if c := compareLevel(al, bl); c != 0 {
			return c
		}
		a, b = arest, brest
	}
}

func compareLevel(a, b string) int {
	rank := func(l string) int {
		switch l {
		case "#":
			return 0
		case "+":
			return 1
		}
		return 2
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return cmp.Compare(ra, rb)
	}
	return strings.Compare(b, a) // any fixed order will do
}

// IsShared reports whether filter is a shared subscription ($share/group/...).
func IsShared(filter string) bool {
	return strings.HasPrefix(filter, "$share/")
}
