package asyncapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAddress(t *testing.T) {
	t.Parallel()
	level, rest := Parameter{Description: levelParam}, Parameter{Description: restParam}
	tests := []struct {
		pattern string
		address string
		params  map[string]Parameter
	}{
		{"rpc/echo", "rpc/echo", nil},
		{"devices/{id}/reboot", "devices/{id}/reboot", map[string]Parameter{"id": level}},
		{"logs/{rest...}", "logs/{rest}", map[string]Parameter{"rest": rest}},
		{"site/{site}/+/x/#", "site/{site}/{level3}/x/{level5}", map[string]Parameter{"site": level, "level3": level, "level5": rest}},
		{"{level2}/+", "{level2}/{level2_}", map[string]Parameter{"level2": level, "level2_": level}},
		{"$share/g/jobs/{id}", "jobs/{id}", map[string]Parameter{"id": level}},
		{"#", "{level1}", map[string]Parameter{"level1": rest}},
	}
	for _, tt := range tests {
		addr, params := address(tt.pattern)
		assert.Equal(t, tt.address, addr, tt.pattern)
		assert.Equal(t, tt.params, params, tt.pattern)
	}
}
