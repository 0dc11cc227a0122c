//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCall_interrupted ends a call while its handler runs, as SIGINT
// would: the call exits 130 at once instead of waiting for its reply.
func TestCall_interrupted(t *testing.T) {
	url := mochi(t)
	tp := topic("interrupted")
	fifo := filepath.Join(t.TempDir(), "running")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	serve(t, tp, "-s", url, "--timeout", "500ms", "--exec", "echo > "+fifo+"; sleep 30")

	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	stderr := newOutput()
	go func() {
		exited <- run(ctx, []string{"call", tp, "-s", url, "--timeout", "10s"}, strings.NewReader(""), newOutput(), stderr)
	}()
	running := make(chan error, 1)
	go func() { // opening a FIFO waits for its writer: the handler's command
		_, err := os.ReadFile(fifo)
		running <- err
	}()
	select {
	case err := <-running:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("the handler's command did not start")
	}
	cancel()
	assert.Equal(t, exitInterrupted, await(t, exited, "call's end with its context"), stderr.String())
}
