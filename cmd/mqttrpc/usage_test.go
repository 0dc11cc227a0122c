package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestUsage checks that mistakes on the command line exit 2 with a message,
// before any connection is tried where the flags alone show the mistake.
func TestUsage(t *testing.T) {
	url := mochi(t)
	nowhere := closedPortURL(t) // a usage error must not wait to connect here
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"frob"}, `unknown command "frob"`},
		{"call without topic", []string{"call", "-s", nowhere}, "want TOPIC"},
		{"call with two bodies", []string{"call", "t", "a", "b", "-s", nowhere}, "want TOPIC"},
		{"unknown flag", []string{"call", "t", "--frobnicate"}, "flag provided but not defined"},
		{"bad qos", []string{"call", "t", "-q", "3", "-s", nowhere}, "--qos 3"},
		{"bad version", []string{"call", "t", "-V", "4.0", "-s", nowhere}, `unknown MQTT version "4.0"`},
		{"3.1.1 without reply topic", []string{"call", "t", "-V", "3.1.1", "-s", nowhere}, "--token-reply PREFIX or --reply-topic"},
		{"two reply routes", []string{"call", "t", "-r", "a", "--token-reply", "b", "-s", nowhere}, "give one"},
		{"negative replies", []string{"call", "t", "--replies", "-1", "-s", nowhere}, "--replies -1"},
		{"reply timeout alone", []string{"call", "t", "--reply-timeout", "1s", "-s", nowhere}, "--reply-timeout is for"},
		{"stream and replies", []string{"call", "t", "--stream", "--replies", "2", "-s", nowhere}, "--stream reads the responses of one handler"},
		{"stream and token reply", []string{"call", "t", "--stream", "--token-reply", "r", "-s", nowhere}, "--stream needs the User Properties"},
		{"stream on 3.1.1", []string{"call", "t", "--stream", "-V", "3.1.1", "-r", "r", "-s", nowhere}, "MQTT 3.1.1 has no User Properties"},
		{"bad header", []string{"call", "t", "-H", "novalue", "-s", nowhere}, "want KEY=VALUE"},
		{"not JSON", []string{"call", "t", "{", "--type", "json", "-s", nowhere}, "not JSON"},
		{"bad server", []string{"call", "t", "-s", "mqtt://"}, "is not a broker address"},
		{"http server", []string{"call", "t", "-s", "http://localhost:1883"}, `unknown scheme "http"`},
		{"http server for ls", []string{"ls", "-s", "http://localhost:1883"}, `unknown scheme "http"`},
		{"password twice", []string{"call", "t", "-P", "x", "--password-file", "f", "-s", nowhere}, "--password and --password-file"},
		{"TLS on mqtt://", []string{"call", "t", "--cafile", "ca.pem", "-s", nowhere}, "need mqtts://"},
		{"wildcard topic", []string{"call", "a/+/b", "-s", url}, "invalid topic"},
		{"serve two answers", []string{"serve", "t", "--echo", "--reply", "x", "-s", nowhere}, "exactly one of"},
		{"serve no answer", []string{"serve", "t", "-s", nowhere}, "exactly one of"},
		{"serve stream without exec", []string{"serve", "t", "--echo", "--stream", "-s", nowhere}, "give --exec"},
		{"serve stream on 3.1.1", []string{"serve", "t", "--exec", "cat", "--stream", "-V", "3.1.1", "-r", "r", "-s", nowhere}, "MQTT 3.1.1 has no User Properties"},
		{"serve bad kill-after", []string{"serve", "t", "--exec", "cat", "--stream", "--kill-after", "0s", "-s", nowhere}, "--kill-after 0s"},
		{"serve bad pattern", []string{"serve", "a/#/b", "--echo", "-s", url}, "invalid topic"},
		{"serve --service with --no-discovery", []string{"serve", "t", "--echo", "--no-discovery", "--service", "x", "-s", nowhere}, "--service describes"},
		{"serve wildcard prefix", []string{"serve", "t", "--echo", "--prefix", "srv/+", "-s", nowhere}, "--prefix"},
		{"bench without topic", []string{"bench", "-s", nowhere}, "want one TOPIC"},
		{"bench no callers", []string{"bench", "t", "--callers", "0", "-s", nowhere}, "--callers 0"},
		{"bench callers and rate", []string{"bench", "t", "--callers", "2", "--rate", "10", "-s", nowhere}, "give one"},
		{"bench json and csv", []string{"bench", "t", "--json", "--csv", "-s", nowhere}, "--json and --csv"},
		{"bench negative rate", []string{"bench", "t", "--rate", "-1", "-s", nowhere}, "--rate -1"},
		{"broker argument", []string{"broker", "x"}, "want no arguments"},
		{"ls two names", []string{"ls", "a", "b", "-s", nowhere}, "want at most a service NAME"},
		{"info without name", []string{"info", "-s", nowhere}, "want a service NAME"},
		{"ping bad name", []string{"ping", "a/b", "-s", nowhere}, `service name "a/b"`},
		{"wildcard prefix", []string{"ls", "--prefix", "srv/#", "-s", nowhere}, "--prefix"},
		{"discovery timeout", []string{"ls", "--timeout", "0s", "-s", nowhere}, "--timeout 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, "", tt.args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.wantErr)
			assert.Empty(t, r.stdout)
		})
	}
}

// TestHelp prints each command's help on stdout and exits 0.
func TestHelp(t *testing.T) {
	r := cli(t, "", "help")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "Commands:")
	for _, c := range commands {
		r := cli(t, "", c.name, "-h")
		assert.Equal(t, exitOK, r.code, c.name)
		assert.Contains(t, r.stdout, "Usage: mqttrpc "+c.name, c.name)
		assert.Empty(t, r.stderr, c.name)
	}
	// docs --json prints the document, not the replies.
	r = cli(t, "", "docs", "-h")
	assert.Contains(t, r.stdout, "--json                write the documents as JSON instead of YAML\n")
	assert.NotContains(t, r.stdout, "JSON array")
	r = cli(t, "", "ls", "-h")
	assert.Contains(t, r.stdout, "--json                print the replies as a JSON array")
}
