package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCall_echo calls serve --echo on each broker and protocol version,
// with the body as an argument, from a file and from standard input.
func TestCall_echo(t *testing.T) {
	for name, url := range brokers(t) {
		for _, version := range []string{"5", "3.1.1"} {
			t.Run(name+"/v"+version, func(t *testing.T) {
				tp := topic("echo")
				conn := []string{"-s", url, "-V", version}
				if version == "3.1.1" {
					conn = append(conn, "--reply-topic", tp+"/reply")
				}
				serve(t, append([]string{tp, "--echo"}, conn...)...)

				r := cli(t, "", append([]string{"call", tp, "hello"}, conn...)...)
				assert.Equal(t, result{exitOK, "hello\n", ""}, r)

				file := writeFile(t, "body.txt", "from a file\n")
				r = cli(t, "", append([]string{"call", tp, "@" + file}, conn...)...)
				assert.Equal(t, result{exitOK, "from a file\n", ""}, r)

				r = cli(t, "from stdin", append([]string{"call", tp, "-"}, conn...)...)
				assert.Equal(t, result{exitOK, "from stdin\n", ""}, r)
			})
		}
	}
}

// TestCall_verboseAndCount repeats a call and prints each reply's
// properties on stderr, leaving stdout to the bodies.
func TestCall_verboseAndCount(t *testing.T) {
	url := mochi(t)
	tp := topic("json")
	serve(t, tp, "--echo", "-s", url)

	r := cli(t, "", "call", tp, `{"n": 1}`, "--type", "json", "-n", "3", "-v", "-s", url,
		"--correlation-id", "id-7")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, strings.Repeat(`{"n":1}`+"\n", 3), r.stdout, "a pipe gets JSON as it came")
	assert.Equal(t, 3, strings.Count(r.stderr, "content-type: application/json\n"), r.stderr)
	assert.Equal(t, 3, strings.Count(r.stderr, `correlation-id: "id-7"`), r.stderr)
	assert.Contains(t, r.stderr, "round-trip: ")
}

// TestCall_timeout calls a topic nobody serves.
func TestCall_timeout(t *testing.T) {
	url := mochi(t)
	r := cli(t, "", "call", topic("nobody"), "hi", "-s", url, "--timeout", "200ms")
	assert.Equal(t, exitTimeout, r.code, r.stderr)
	assert.Contains(t, r.stderr, "timed out")
	assert.Empty(t, r.stdout)
}

// TestCall_noResponders needs mosquitto: mochi never acknowledges a QoS 1
// publish with reason code 0x10 (no matching subscribers), so there the
// caller waits for its timeout.
func TestCall_noResponders(t *testing.T) {
	url := mosquitto(t)
	r := cli(t, "", "call", topic("nobody"), "hi", "-s", url, "-q", "1", "--timeout", "10s")
	assert.Equal(t, exitNoResponders, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no responders")
}

// TestCall_severalServers gives serve and call two servers: the first,
// where nothing listens, is passed over for the second.
func TestCall_severalServers(t *testing.T) {
	url := mochi(t)
	tp := topic("servers")
	servers := []string{"-s", closedPortURL(t), "--server", url}
	stderr := serve(t, append([]string{tp, "--echo"}, servers...)...)
	assert.Contains(t, stderr, "on "+url+"\n", "the server in use")

	r := cli(t, "", append([]string{"call", tp, "hi"}, servers...)...)
	assert.Equal(t, result{exitOK, "hi\n", ""}, r)

	r = cli(t, "", "call", tp, "hi", "-s", url, "-s", "::bad")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, `--server "::bad" is not a broker address`)
}

// TestCall_connectionFailure calls a port where no broker listens.
func TestCall_connectionFailure(t *testing.T) {
	r := cli(t, "", "call", "a/b", "-s", closedPortURL(t), "--connect-timeout", "300ms")
	assert.Equal(t, exitConnection, r.code, r.stderr)
	assert.Contains(t, r.stderr, "mqttrpc call: connect")
}
