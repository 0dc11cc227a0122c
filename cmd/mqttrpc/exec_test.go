package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mqttrpc/mqttrpc"
)

func TestPatternParams(t *testing.T) {
	assert.Equal(t, []string{"site", "id", "rest"}, patternParams("$share/g/{site}/devices/{id}/x/{rest...}"))
	assert.Empty(t, patternParams("devices/+/reboot"))
}

func TestEnvName(t *testing.T) {
	assert.Equal(t, "TRACE_ID", envName("trace-id"))
	assert.Equal(t, "X_Y_Z9", envName("x.y z9"))
	assert.Equal(t, "_", envName("é"))
}

// TestExecEnv_binaryCorrelationData checks that Correlation Data that is
// not text, which no environment variable can hold, arrives in hex.
func TestExecEnv_binaryCorrelationData(t *testing.T) {
	h := &execHandler{pattern: "p"}
	env := h.env(&mqttrpc.Message{Topic: "p", CorrelationID: "\x00\xff"})
	assert.Contains(t, env, "MQTTRPC_CORRELATION_ID_HEX=00ff")
	for _, kv := range env {
		assert.False(t, strings.HasPrefix(kv, "MQTTRPC_CORRELATION_ID="), kv)
	}
	env = h.env(&mqttrpc.Message{Topic: "p", CorrelationID: "id-1"})
	assert.Contains(t, env, "MQTTRPC_CORRELATION_ID=id-1")
}

// TestHeadBuffer keeps the first bytes of a long stderr and notes the cut.
func TestHeadBuffer(t *testing.T) {
	b := &headBuffer{max: 4}
	for _, s := range []string{"ab", "cdef", "gh"} {
		n, err := b.Write([]byte(s))
		assert.NoError(t, err)
		assert.Equal(t, len(s), n, "a command's writes never fail")
	}
	assert.Equal(t, "abcd", b.buf.String())
	assert.True(t, b.cut)
	assert.Equal(t, "abcd …", failure(nil, b))
}
