package topic

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		pattern string
		filter  string
		names   []string
		wantErr error
	}{
		{"devices/{id}/reboot", "devices/+/reboot", []string{"id"}, nil},
		{"logs/{rest...}", "logs/#", []string{"rest"}, nil},
		{"site/{site}/dev/{dev}/{tail...}", "site/+/dev/+/#", []string{"site", "dev", "tail"}, nil},
		{"$share/g/devices/{id}", "$share/g/devices/+", []string{"id"}, nil},
		{"a/+/b/#", "a/+/b/#", nil, nil},
		{"a/{id}x", "", nil, errBrace},
		{"a/{id", "", nil, errBrace},
		{"a/}", "", nil, errBrace},
		{"a/{{id}}", "", nil, errBrace},
		{"a/{}", "", nil, errParamName},
		{"a/{1x}", "", nil, errParamName},
		{"a/{x-y}", "", nil, errParamName},
		{"{id}/{id}", "", nil, errParamDup},
		{"{rest...}/x", "", nil, errRest},
		{"a/#/b", "", nil, errHash},
		{"", "", nil, errEmpty},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if tt.wantErr != nil {
			assert.ErrorIs(t, err, tt.wantErr, "%q", tt.pattern)
			continue
		}
		require.NoError(t, err, "%q", tt.pattern)
		assert.Equal(t, tt.filter, p.Filter, "%q", tt.pattern)
		assert.Equal(t, tt.names, p.Names(), "%q", tt.pattern)
	}
}

func TestPatternValue(t *testing.T) {
	tests := []struct {
		pattern, topic, param string
		want                  string
		ok                    bool
	}{
		{"devices/{id}/reboot", "devices/42/reboot", "id", "42", true},
		{"devices/{id}/reboot", "devices/42/reboot", "other", "", false},
		{"logs/{rest...}", "logs/a/b/c", "rest", "a/b/c", true},
		{"logs/{rest...}", "logs", "rest", "", true},
		{"{site}/x/{tail...}", "s1/x/y", "site", "s1", true},
		{"{site}/x/{tail...}", "s1/x/y", "tail", "y", true},
		{"$share/g/d/{id}", "d/7", "id", "7", true},
		{"a/+/b", "a/1/b", "id", "", false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		require.NoError(t, err)
		require.True(t, Match(p.Filter, tt.topic), "%q does not match %q", tt.pattern, tt.topic)
		got, ok := p.Value(tt.topic, tt.param)
		assert.Equal(t, tt.ok, ok, "%q %q %q", tt.pattern, tt.topic, tt.param)
		assert.Equal(t, tt.want, got, "%q %q %q", tt.pattern, tt.topic, tt.param)
	}
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"base/+/reboot", "base/#", true},
		{"a/+/c", "a/b/+", true},
		{"a/b", "a/b", true},
		{"a", "a/#", true},
		{"+", "a/#", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b/c", false},
		{"a/+/#", "a", false},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$share/g/a/+", "a/b", true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Overlap(tt.a, tt.b), "%q %q", tt.a, tt.b)
		assert.Equal(t, tt.want, Overlap(tt.b, tt.a), "%q %q", tt.b, tt.a)
	}
}

func TestCompare(t *testing.T) {
	// Each filter is more specific than the next, and all match "a/b/c".
	order := []string{"a/b/c", "a/b/+", "a/b/#", "a/+/c", "a/+/+", "a/#", "+/b/c", "#"}
	for i, a := range order {
		require.True(t, Match(a, "a/b/c"), a)
		assert.Equal(t, 0, Compare(a, a), a)
		for _, b := range order[i+1:] {
			assert.Equal(t, +1, Compare(a, b), "%q vs %q", a, b)
			assert.Equal(t, -1, Compare(b, a), "%q vs %q", b, a)
		}
	}
	assert.Equal(t, +1, Compare("a/b", "a/b/#"), "a filter that ends beats one that goes on with #")
}

func TestValidReplyTopic(t *testing.T) {
	for _, ok := range []string{"/replies/x", "a//b", "a/", "$r/x"} {
		assert.NoError(t, ValidReplyTopic(ok), "%q", ok)
	}
	for bad, want := range map[string]error{"": errEmpty, "a/+": errWildcard, "a/#": errWildcard, "a\x00": errNUL, "\xff": errBadUTF8} {
		assert.ErrorIs(t, ValidReplyTopic(bad), want, "%q", bad)
	}
}
