package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCall_replies gathers the replies of three responders to one
// request, on each broker and protocol version.
func TestCall_replies(t *testing.T) {
	for name, url := range brokers(t) {
		for _, version := range []string{"5", "3.1.1"} {
			t.Run(name+"/v"+version, func(t *testing.T) {
				tp, prefix := topic("gather"), topic("gather-reply")
				conn := []string{"-s", url, "-V", version}
				pattern := tp
				if version == "3.1.1" {
					pattern = tp + "/{token}"
					conn = append(conn, "-r", prefix+"/{token}")
				}
				for _, text := range []string{"a", "b", "c"} {
					serve(t, append([]string{pattern, "--reply", text}, conn...)...)
				}
				call := []string{"call", tp, "-s", url, "-V", version}
				if version == "3.1.1" {
					call = append(call, "--token-reply", prefix)
				}

				r := cli(t, "", append(call, "--replies", "3")...)
				require.Equal(t, exitOK, r.code, r.stderr)
				assert.Equal(t, []string{"a", "b", "c"}, sorted(lines(r.stdout)))

				r = cli(t, "", append(call, "--replies", "0", "--reply-timeout", "500ms")...)
				require.Equal(t, exitOK, r.code, r.stderr)
				assert.Equal(t, []string{"a", "b", "c"}, sorted(lines(r.stdout)), "every reply within --reply-timeout")

				r = cli(t, "", append(call, "--replies", "4", "--reply-timeout", "300ms", "-v")...)
				assert.Equal(t, exitTimeout, r.code, r.stderr)
				assert.Equal(t, []string{"a", "b", "c"}, sorted(lines(r.stdout)), "what came is printed")
				assert.Equal(t, 3, strings.Count(r.stderr, "round-trip: "), r.stderr)
				assert.Contains(t, r.stderr, "3 of 4 replies within")
			})
		}
	}
}

// TestCall_repliesWithError gathers an error reply among good ones: each
// is reported as it comes, and the command exits 1.
func TestCall_repliesWithError(t *testing.T) {
	url := mochi(t)
	tp := topic("gather-error")
	serve(t, tp, "--reply", "fine", "-s", url)
	serve(t, tp, "--exec", "echo broken >&2; exit 1", "-s", url)

	r := cli(t, "", "call", tp, "--replies", "2", "-s", url)
	assert.Equal(t, exitRemoteError, r.code, r.stderr)
	assert.Equal(t, "fine\n", r.stdout)
	assert.Equal(t, "mqttrpc call: request \""+tp+"\": remote error 500: broken\n", r.stderr, "reported once")

	r = cli(t, "", "call", topic("nobody"), "--replies", "0", "--reply-timeout", "200ms", "-s", url)
	assert.Equal(t, exitTimeout, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no reply within")
}

// TestCall_verboseErrorReply: -v prints an error reply's topic and round
// trip, as a good reply's.
func TestCall_verboseErrorReply(t *testing.T) {
	url := mochi(t)
	tp := topic("verbose-error")
	serve(t, tp, "--exec", "echo nope >&2; exit 1", "-s", url)

	r := cli(t, "", "call", tp, "-v", "-s", url)
	assert.Equal(t, exitRemoteError, r.code, r.stderr)
	assert.Regexp(t, `(?m)^topic: mqttrpc/inbox/\S+$`, r.stderr)
	assert.Contains(t, r.stderr, "round-trip: ")
	assert.Contains(t, r.stderr, "mqttrpc call: request \""+tp+"\": remote error 500: nope\n")
	assert.Empty(t, r.stdout)
}

// TestCall_tokenReplyV311 calls on MQTT 3.1.1 with --token-reply, many
// requests in a row, and warns that 3.1.1 cannot carry headers and the
// correlation ID instead of dropping them silently.
func TestCall_tokenReplyV311(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			tp, prefix := topic("token"), topic("token-reply")
			serve(t, tp+"/{token}", "--echo", "-r", prefix+"/{token}", "-s", url, "-V", "3.1.1")

			r := cli(t, "", "call", tp, "hi", "-n", "3", "--token-reply", prefix, "-s", url, "-V", "3.1.1")
			assert.Equal(t, result{exitOK, "hi\nhi\nhi\n", ""}, r)

			r = cli(t, "", "call", tp, "hi", "--token-reply", prefix, "-s", url, "-V", "3.1.1",
				"-H", "k=v", "--correlation-id", "c-1")
			assert.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, "hi\n", r.stdout)
			assert.Contains(t, r.stderr, "mqttrpc call: warning: MQTT 3.1.1 cannot carry headers: -H not sent\n")
			assert.Contains(t, r.stderr, "mqttrpc call: warning: MQTT 3.1.1 cannot carry Correlation Data: --correlation-id not sent\n")
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
