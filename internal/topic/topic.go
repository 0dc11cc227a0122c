// Package topic validates MQTT topic names and filters and matches one against
// the other, as MQTT 5.0 section 4.7 defines them.
package topic

import (
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
