package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestServe_execEnvironment runs a command that prints what its
// environment says about the request: pattern parameters, headers and
// Correlation Data, with the body on its standard input.
func TestServe_execEnvironment(t *testing.T) {
	url := mochi(t)
	base := topic("devices")
	serve(t, base+"/{id}/{rest...}", "-s", url, "--exec",
		`printf '%s|%s|%s|%s|%s|%s' "$MQTTRPC_PARAM_ID" "$MQTTRPC_PARAM_REST" "$MQTTRPC_HEADER_TRACE_ID" `+
			`"$MQTTRPC_CORRELATION_ID" "$MQTTRPC_TOPIC" "$(cat)"`)

	r := cli(t, "", "call", base+"/42/fw/update", "body text", "-s", url,
		"-H", "trace-id=abc", "--correlation-id", "c-1")
	assert.Equal(t, result{exitOK, "42|fw/update|abc|c-1|" + base + "/42/fw/update|body text\n", ""}, r)
}

// TestServe_execFailure runs a command that fails: its caller gets an
// error reply with the command's stderr, and exits 1.
func TestServe_execFailure(t *testing.T) {
	url := mochi(t)
	tp := topic("fail")
	serve(t, tp, "-s", url, "--exec", "cat >/dev/null; echo '  disk full  ' >&2; exit 3")

	r := cli(t, "", "call", tp, "x", "-s", url)
	assert.Equal(t, exitRemoteError, r.code)
	assert.Equal(t, "mqttrpc: remote error 500: disk full\n", r.stderr)
	assert.Empty(t, r.stdout)
}

// TestServe_execTimeout runs a command past --timeout: its caller gets a
// 408 at once, and the command and what it started are killed, so serve
// drains and exits when the test ends.
func TestServe_execTimeout(t *testing.T) {
	url := mochi(t)
	tp := topic("slow")
	serve(t, tp, "-s", url, "--timeout", "200ms", "--exec", "sleep 30 & sleep 30; wait")

	r := cli(t, "", "call", tp, "-s", url, "--timeout", "10s")
	assert.Equal(t, exitRemoteError, r.code, r.stderr)
	assert.Contains(t, r.stderr, "remote error 408")
}

// TestServe_fixedReply answers with --reply.
func TestServe_fixedReply(t *testing.T) {
	url := mochi(t)
	tp := topic("fixed")
	serve(t, tp, "-s", url, "--reply", `{"ok":true}`, "--type", "json")

	r := cli(t, "", "call", tp, "-s", url, "-v")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `{"ok":true}`+"\n", r.stdout)
	assert.Contains(t, r.stderr, "content-type: application/json")
}
