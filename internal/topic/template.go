package topic

import (
	"errors"
	"fmt"
	"strings"
)

var errTemplateName = errors.New("names a level the pattern does not name")

// Template is a topic name whose levels may be "{name}" or "{name...}",
// filled in from the topic a Pattern matched: with the pattern
// "svc/request/{token}", the template "svc/response/{token}" gives
// svc/response/42 for svc/request/42.
type Template struct {
	raw    string
	levels []string // the levels; for a named one, the name
	named  []bool   // whether each level is a name
	rest   bool     // the last named level is {name...}
}

// ParseTemplate parses a template whose names must all be names of p. A
// template without names is a plain topic name, checked as ValidName does.
func ParseTemplate(s string, p Pattern) (Template, error) {
	if err := checkString(s); err != nil {
		return Template{}, err
	}
	t := Template{raw: s}
	if !strings.ContainsAny(s, "{}") {
		return t, ValidName(s)
	}
	levels := strings.Split(s, "/")
	t.levels, t.named = levels, make([]bool, len(levels))
	for i, level := range levels {
		name, wildcard, err := parseLevel(level, i == len(levels)-1)
		switch {
		case err != nil:
			return Template{}, fmt.Errorf("level %d %q: %w", i+1, level, err)
		case name == "":
			if level == "" || strings.ContainsAny(level, "+#") {
				return Template{}, fmt.Errorf("level %d %q: %w", i+1, level, errEmptyLevel)
			}
		case ParamIndex(p.names, name) < 0:
			return Template{}, fmt.Errorf("level %d %q: %w", i+1, level, errTemplateName)
		default:
			t.levels[i], t.named[i], t.rest = name, true, wildcard == "#"
		}
	}
	return t, nil
}

// String returns the template as written.
func (t Template) String() string { return t.raw }

// Filter returns the filter every topic the template can give matches: its
// names replaced by wildcards.
func (t Template) Filter() string {
	if t.levels == nil {
		return t.raw
	}
	out := make([]string, len(t.levels))
	for i, level := range t.levels {
		switch {
		case !t.named[i]:
			out[i] = level
		case t.rest && i == len(t.levels)-1:
			out[i] = "#"
		default:
			out[i] = "+"
		}
	}
	return strings.Join(out, "/")
}

// Expand fills the template in from name, a topic p matched.
func (t Template) Expand(p Pattern, name string) string {
	if t.levels == nil {
		return t.raw
	}
	var sb strings.Builder
	for i, level := range t.levels {
		if i > 0 {
			sb.WriteByte('/')
		}
		if t.named[i] {
			level, _ = p.Value(name, level)
		}
		sb.WriteString(level)
	}
	return sb.String()
}
