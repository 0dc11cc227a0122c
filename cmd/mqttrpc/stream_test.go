package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestStream_execLines serves a command's output as a stream, a line a
// response, on each broker at QoS 0 and 1: call --stream prints each line
// as a response, an empty one too, and with -v each response's index.
func TestStream_execLines(t *testing.T) {
	for name, url := range brokers(t) {
		for _, qos := range []string{"0", "1"} {
			t.Run(name+"/qos"+qos, func(t *testing.T) {
				tp := topic("lines")
				serve(t, tp, "-s", url, "-q", qos, "--stream", "--exec", `printf 'a\nb\r\n\n%s' "$(cat)"`)

				r := cli(t, "", "call", tp, "last", "--stream", "-q", qos, "-s", url)
				assert.Equal(t, result{exitOK, "a\nb\n\nlast\n", ""}, r)

				r = cli(t, "", "call", tp, "end", "--stream", "-q", qos, "-s", url, "-v")
				assert.Equal(t, exitOK, r.code, r.stderr)
				assert.Equal(t, "a\nb\n\nend\n", r.stdout)
				at := -1
				for i, want := range []string{"index: 0\n", "index: 1\n", "index: 2\n", "index: 3\n"} {
					next := strings.Index(r.stderr, want)
					assert.Greater(t, next, at, "index %d after the one before; stderr:\n%s", i, r.stderr)
					at = next
				}
				assert.Contains(t, r.stderr, "header __stream: d:3\n")
			})
		}
	}
}

// TestStream_execFailure streams the lines of a command that then fails:
// the caller prints them, then the error status with the command's stderr,
// and exits 1.
func TestStream_execFailure(t *testing.T) {
	url := mochi(t)
	tp := topic("fail")
	serve(t, tp, "-s", url, "--stream", "--exec", "echo 10%; echo 20%; echo 'flash worn out' >&2; exit 3")

	r := cli(t, "", "call", tp, "--stream", "-s", url)
	assert.Equal(t, result{exitRemoteError, "10%\n20%\n", "mqttrpc call: stream \"" + tp + "\": remote error 500: flash worn out\n"}, r)
}

// TestStream_jsonLines sends each line as JSON with --type json; a line
// that is not JSON ends the stream with an error status naming it.
func TestStream_jsonLines(t *testing.T) {
	url := mochi(t)
	tp := topic("json")
	serve(t, tp, "-s", url, "--stream", "--type", "json", "--exec", `echo '{"pct":50}'; echo 'not json'; echo '{"pct":100}'`)

	r := cli(t, "", "call", tp, "--stream", "-s", url, "-v")
	assert.Equal(t, exitRemoteError, r.code, r.stderr)
	assert.Equal(t, `{"pct":50}`+"\n", r.stdout)
	assert.Contains(t, r.stderr, "content-type: application/json\n")
	assert.Contains(t, r.stderr, "remote error 500: command output, line 2: body is not JSON\n")
}

// TestStream_plainHandler calls a handler that does not stream: the caller
// gets its 400 at once.
func TestStream_plainHandler(t *testing.T) {
	url := mochi(t)
	tp := topic("plain")
	serve(t, tp, "-s", url, "--echo")

	r := cli(t, "", "call", tp, "--stream", "-s", url)
	assert.Equal(t, exitRemoteError, r.code, r.stderr)
	assert.Contains(t, r.stderr, "remote error 400")
}
