package topic

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr error
	}{
		{"rpc/echo", nil},
		{"a", nil},
		{"$SYS/x", nil},
		{"", errEmpty},
		{"rpc/+", errWildcard},
		{"rpc/#", errWildcard},
		{"a//b", errEmptyLevel},
		{"/a", errEmptyLevel},
		{"a/", errEmptyLevel},
		{"a\x00b", errNUL},
		{"\xff", errBadUTF8},
		{strings.Repeat("a", maxLen+1), errTooLong},
	}
	for _, tt := range tests {
		assert.ErrorIs(t, ValidName(tt.name), tt.wantErr, "%q", tt.name)
		if tt.wantErr == nil {
			assert.NoError(t, ValidName(tt.name), "%q", tt.name)
		}
	}
}

func TestValidFilter(t *testing.T) {
	tests := []struct {
		filter  string
		wantErr error
	}{
		{"rpc/echo", nil},
		{"+", nil},
		{"#", nil},
		{"devices/+/reboot", nil},
		{"devices/#", nil},
		{"$share/g/devices/+", nil},
		{"a//b", nil}, // legal in a filter: matches the same empty level
		{"", errEmpty},
		{"a/b#", errHash},
		{"a/#/b", errHash},
		{"a/b+", errPlus},
		{"$share/g", errShare},
		{"$share//a", errShare},
	}
	for _, tt := range tests {
		err := ValidFilter(tt.filter)
		if tt.wantErr == nil {
			assert.NoError(t, err, "%q", tt.filter)
		} else {
			assert.ErrorIs(t, err, tt.wantErr, "%q", tt.filter)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, name string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"+/+", "a/b", true},
		{"+", "a", true},
		{"+", "a/b", false},
		{"#", "a/b/c", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "b", false},
		{"+/b", "/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$share/g/a/+", "a/b", true},
		{"$share/g/a/+", "b/b", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Match(tt.filter, tt.name), "Match(%q, %q)", tt.filter, tt.name)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("a/+/#", "a/b/c")
	f.Add("$share/g/#", "x")
	f.Fuzz(func(t *testing.T, filter, name string) {
		m := Match(filter, name)
		// A valid topic name used as its own filter always matches itself.
		if ValidName(name) == nil && !Match(name, name) {
			t.Fatalf("Match(%q, %q) = false", name, name)
		}
		// Match never claims a match for a name it would reject as a filter's own level count.
		if m && ValidFilter(filter) == nil && !Wildcard(filter) && filter != name {
			if s, _ := stripShare(filter); s != name {
				t.Fatalf("literal filter %q matched different name %q", filter, name)
			}
		}
	})
}
