package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBroker runs the broker command and serves and calls through it.
func TestBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stderr := newOutput()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"broker", "--listen", "127.0.0.1:0", "-v"}, strings.NewReader(""), newOutput(), stderr)
	}()
	out := stderr.waitFor(t, "mqttrpc: broker listening on ")
	url := regexp.MustCompile(`listening on (mqtt://\S+)`).FindStringSubmatch(out)[1]

	t.Run("round trip", func(t *testing.T) {
		tp := topic("via-broker")
		serve(t, tp, "--echo", "-s", url)
		r := cli(t, "", "call", tp, "hi", "-s", url)
		assert.Equal(t, result{exitOK, "hi\n", ""}, r)
	})
	stderr.waitFor(t, `msg="client disconnected"`) // -v logs the broker's debug lines

	cancel()
	select {
	case code := <-exited:
		require.Equal(t, exitOK, code, stderr.String())
	case <-time.After(waitLimit):
		t.Fatalf("broker did not stop within %v", waitLimit)
	}
}
