package ids

import (
	"regexp"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUUIDIsVersion4(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		s := UUID()
		u, err := uuid.Parse(s)
		require.NoError(t, err)
		assert.Equal(t, uuid.Version(4), u.Version())
		assert.Equal(t, uuid.RFC4122, u.Variant())
		assert.False(t, seen[s], "repeated: %s", s)
		seen[s] = true
	}
}

func TestTokenIsHex(t *testing.T) {
	hex := regexp.MustCompile(`^[0-9a-f]{16}$`)
	a, b := Token(), Token()
	assert.Regexp(t, hex, a)
	assert.NotEqual(t, a, b)
}
