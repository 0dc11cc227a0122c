package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc/embedded"
)

// failFastLimit is what a one-shot command may take to give up on a
// server that refuses connections or does not resolve: generous, as the
// machine may be busy, yet far below the default --connect-timeout of 10s
// these commands once waited out.
const failFastLimit = 3 * time.Second

// TestConnect_failFast runs each one-shot command against a port where
// nothing listens and a host that does not resolve: each exits 5 at once,
// without waiting for --connect-timeout (left at its default, 10s).
func TestConnect_failFast(t *testing.T) {
	servers := map[string]string{
		"refused":    closedPortURL(t),
		"unresolved": "mqtt://nonexistent.invalid:1883", // .invalid never resolves (RFC 2606)
	}
	commands := [][]string{
		{"call", "a/b"},
		{"call", "a/b", "--replies", "0"},
		{"bench", "a/b", "-n", "1"},
		{"ls"}, {"ping"}, {"info", "svc"}, {"stats", "svc"}, {"docs"},
	}
	for name, server := range servers {
		for _, args := range commands {
			t.Run(name+"/"+strings.Join(args, " "), func(t *testing.T) {
				start := time.Now()
				r := cli(t, "", append(args, "-s", server)...)
				took := time.Since(start)
				t.Logf("mqttrpc %s -s %s: exit %d in %v", strings.Join(args, " "), server, r.code, took)
				assert.Equal(t, exitConnection, r.code, r.stderr)
				assert.Less(t, took, failFastLimit)
				assert.Contains(t, r.stderr, "mqttrpc "+args[0]+": connect ")
				assert.Empty(t, r.stdout)
			})
		}
	}
}

// TestConnect_failFastSeveralServers gives two servers where nothing
// listens: the command gives up at once, naming both.
func TestConnect_failFastSeveralServers(t *testing.T) {
	a, b := closedPortURL(t), closedPortURL(t)
	start := time.Now()
	r := cli(t, "", "call", "a/b", "-s", a, "-s", b)
	t.Logf("two refusing servers: exit %d in %v", r.code, time.Since(start))
	assert.Equal(t, exitConnection, r.code, r.stderr)
	assert.Less(t, time.Since(start), failFastLimit)
	assert.Contains(t, r.stderr, a)
	assert.Contains(t, r.stderr, b)
}

// TestServe_waitsForBroker starts serve before its broker: it keeps
// trying, and serves once the broker is up.
func TestServe_waitsForBroker(t *testing.T) {
	addr := freeAddr(t)
	tp := topic("early")
	ctx, cancel := context.WithCancel(context.Background())
	stderr := newOutput()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", tp, "--echo", "-s", addr}, strings.NewReader(""), newOutput(), stderr)
	}()
	defer func() {
		cancel()
		assert.Equal(t, exitOK, await(t, exited, "serve's exit"), stderr.String())
	}()
	// A one-shot command to the same address, meanwhile, gives up at once.
	r := cli(t, "", "call", tp, "-s", addr)
	require.Equal(t, exitConnection, r.code, r.stderr)
	select {
	case code := <-exited:
		t.Fatalf("serve exited %d without waiting for its broker; stderr:\n%s", code, stderr)
	default:
	}

	srv, err := embedded.Start(embedded.WithAddr(addr))
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() }) // after serve has stopped
	stderr.waitFor(t, "mqttrpc: serving")
	r = cli(t, "", "call", tp, "hi", "-s", addr)
	assert.Equal(t, result{exitOK, "hi\n", ""}, r)
}

// TestServerAddress gives --server as HOST:PORT, without a scheme, and as
// HOST alone, which means port 1883.
func TestServerAddress(t *testing.T) {
	u, err := url.Parse(mochi(t))
	require.NoError(t, err)
	tp := topic("hostport")
	serve(t, tp, "--echo", "-s", u.Host)
	r := cli(t, "", "call", tp, "hi", "-s", u.Host)
	assert.Equal(t, result{exitOK, "hi\n", ""}, r)

	// Whether or not a broker listens on localhost:1883, "localhost" is
	// an address, not a usage error.
	r = cli(t, "", "call", tp, "-s", "localhost", "--timeout", "100ms")
	assert.Contains(t, []int{exitTimeout, exitConnection}, r.code, r.stderr)
	if r.code == exitConnection {
		assert.Contains(t, r.stderr, ":1883")
	}
}

// TestServerSchemes: the help lists each scheme --server takes, and the
// error for any other scheme lists the same.
func TestServerSchemes(t *testing.T) {
	r := cli(t, "", "call", "t", "-s", "http://localhost")
	require.Equal(t, exitUsage, r.code, r.stderr)
	for _, sc := range schemes {
		assert.Contains(t, connHelp, sc.name+"://")
		assert.Contains(t, r.stderr, sc.name+"://")
	}
}
