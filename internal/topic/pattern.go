package topic

import (
	"errors"
	"fmt"
	"strings"
)

var (
	errBrace     = errors.New("'{' and '}' may only enclose a whole level: {name} or {name...}")
	errParamName = errors.New("a {name} must be a Go identifier")
	errParamDup  = errors.New("a {name} appears twice")
	errRest      = errors.New("{name...} must be the last level")
)

// Pattern is a topic filter whose wildcard levels may carry names:
// "devices/{id}/reboot" subscribes to devices/+/reboot and names the second
// level id; "logs/{rest...}" subscribes to logs/# and names the rest of the
// topic. Plain filters ("a/+/b", "a/#") are patterns without names.
type Pattern struct {
	Raw    string   // the pattern as given
	Filter string   // the MQTT filter: wildcards in place of names
	names  []string // the name of each level; "" for a level without one
}

// ParsePattern parses and validates a pattern. '{' and '}' are reserved for
// names, so that a filter never means something else once names are added.
func ParsePattern(pattern string) (Pattern, error) {
	if err := checkString(pattern); err != nil {
		return Pattern{}, err
	}
	prefix, f := "", pattern
	if rest, shared := stripShare(pattern); shared {
		prefix, f = pattern[:len(pattern)-len(rest)], rest
	}
	levels := strings.Split(f, "/")
	var names []string
	for i, level := range levels {
		name, wildcard, err := parseLevel(level, i == len(levels)-1)
		if err != nil {
			return Pattern{}, fmt.Errorf("level %d %q: %w", i+1, level, err)
		}
		if name == "" {
			continue
		}
		if names == nil {
			names = make([]string, len(levels))
		}
		if ParamIndex(names, name) >= 0 {
			return Pattern{}, fmt.Errorf("%w: %q", errParamDup, name)
		}
		names[i], levels[i] = name, wildcard
	}
	p := Pattern{Raw: pattern, Filter: prefix + strings.Join(levels, "/"), names: names}
	if err := ValidFilter(p.Filter); err != nil {
		return Pattern{}, err
	}
	return p, nil
}

// parseLevel returns the name and the wildcard of a "{name}" or "{name...}"
// level, or no name for a plain one.
func parseLevel(level string, last bool) (name, wildcard string, err error) {
	if !strings.ContainsAny(level, "{}") {
		return "", level, nil
	}
	inner, opened := strings.CutPrefix(level, "{")
	inner, closed := strings.CutSuffix(inner, "}")
	if !opened || !closed || strings.ContainsAny(inner, "{}") {
		return "", "", errBrace
	}
	var ok bool
	wildcard = "+"
	if name, ok = strings.CutSuffix(inner, "..."); ok {
		if !last {
			return "", "", errRest
		}
		wildcard = "#"
	} else {
		name = inner
	}
	if !isIdent(name) {
		return "", "", fmt.Errorf("%w: %q", errParamName, name)
	}
	return name, wildcard, nil
}

func isIdent(s string) bool {
	for i, r := range s {
		letter := r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}

// Names returns the names of the pattern's levels, in order.
func (p Pattern) Names() []string {
	var names []string
	for _, n := range p.names {
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

// Value returns the part of name, a topic the pattern matched, that the
// pattern calls param: one level for {param}, the rest of the topic for
// {param...} ("" when the topic ends before it). ok is false if the pattern
// has no such name.
func (p Pattern) Value(name, param string) (value string, ok bool) {
	i := ParamIndex(p.names, param)
	if i < 0 {
		return "", false
	}
	rest := name
	for range i {
		if _, rest, ok = strings.Cut(rest, "/"); !ok {
			return "", true // "logs" matched by "logs/{rest...}"
		}
	}
	if i == len(p.names)-1 && strings.HasSuffix(p.Filter, "#") {
		return rest, true
	}
	level, _, _ := strings.Cut(rest, "/")
	return level, true
}

// ParamIndex returns the index of name in names, or -1.
func ParamIndex(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}
