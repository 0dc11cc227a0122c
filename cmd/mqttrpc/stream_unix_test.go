//go:build unix

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readFIFO makes a FIFO in a temporary directory and returns its path and
// a channel that gets what the first writer wrote, once it closes it:
// opening a FIFO waits for its writer, so the test waits on an event of
// the command's, not on time.
func readFIFO(t *testing.T, name string) (string, <-chan string) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), name)
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	got := make(chan string, 1)
	go func() {
		b, err := os.ReadFile(fifo)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- strings.TrimSpace(string(b))
	}()
	t.Cleanup(func() { // a test that failed early: let the reader end
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	return fifo, got
}

// TestStream_cancelStopsCommand interrupts call --stream, as SIGINT does,
// while the command it streams from runs: call exits 130, and the cancel
// it sent makes serve stop the command with SIGTERM, which the command
// sees.
func TestStream_cancelStopsCommand(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			tp := topic("cancel")
			fifo, stopped := readFIFO(t, "stopped")
			serveErr := serveOut(t, tp, "-s", url, "-q", "1", "--stream", "-v",
				"--exec", "trap 'echo got TERM > "+fifo+"; exit 0' TERM; echo one; echo two; sleep 30 & wait")

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout, stderr := newOutput(), newOutput()
			exited := make(chan int, 1)
			go func() {
				exited <- run(ctx, []string{"call", tp, "--stream", "-q", "1", "-s", url, "--timeout", "30s"}, strings.NewReader(""), stdout, stderr)
			}()
			stdout.waitFor(t, "two\n")
			cancel()
			assert.Equal(t, exitInterrupted, await(t, exited, "call --stream's end with its context"), stderr.String())
			assert.Equal(t, "one\ntwo\n", stdout.String())
			assert.Equal(t, "got TERM", await(t, stopped, "the command's TERM trap"))
			serveErr.waitFor(t, `why="the caller cancelled"`)
		})
	}
}

// TestStream_killAfter streams from a command that ignores SIGTERM: once
// the caller cancels, it is killed --kill-after later, and serve says so.
func TestStream_killAfter(t *testing.T) {
	url := mochi(t)
	tp := topic("stubborn")
	serveErr := serveOut(t, tp, "-s", url, "--stream", "--kill-after", "100ms",
		"--exec", "trap '' TERM; echo started; sleep 30")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := newOutput()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"call", tp, "--stream", "-s", url, "--timeout", "30s"}, strings.NewReader(""), stdout, newOutput())
	}()
	stdout.waitFor(t, "started\n")
	cancel()
	assert.Equal(t, exitInterrupted, <-exited)
	serveErr.waitFor(t, "did not exit within --kill-after of SIGTERM: killing it")
	// serve's cleanup checks that it drained: the killed command's handler returned.
}

// TestStream_binarySIGINT runs the built command on both sides: SIGINT to
// call --stream makes it exit 130, and the command that serve --stream runs
// gets SIGTERM.
func TestStream_binarySIGINT(t *testing.T) {
	bin := buildBinary(t, ".", "mqttrpc")
	url := mochi(t)
	tp := topic("binary-stream")
	fifo, stopped := readFIFO(t, "stopped")

	server := exec.Command(bin, "serve", tp, "-s", url, "-q", "1", "--stream",
		"--exec", "trap 'echo got TERM > "+fifo+"; exit 0' TERM; i=0; while [ $i -lt 3 ]; do echo step $i; i=$((i+1)); done; sleep 30 & wait")
	serverErr := newOutput()
	server.Stderr = serverErr
	require.NoError(t, server.Start())
	serverExited := make(chan error, 1)
	go func() { serverExited <- server.Wait() }()
	t.Cleanup(func() {
		server.Process.Kill() // a no-op once it has exited
		<-serverExited
	})
	serverErr.waitFor(t, "mqttrpc: serving")

	call := exec.Command(bin, "call", tp, "--stream", "-q", "1", "-s", url, "--timeout", "30s")
	out, err := call.StdoutPipe()
	require.NoError(t, err)
	callErr := newOutput()
	call.Stderr = callErr
	require.NoError(t, call.Start())
	callExited := make(chan error, 1)
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		callExited <- call.Wait()
	}()
	t.Cleanup(func() { call.Process.Kill() })
	for i, want := range []string{"step 0", "step 1", "step 2"} {
		line, ok := "", false
		select {
		case line, ok = <-lines:
		case <-time.After(waitLimit):
		}
		require.True(t, ok, "line %d not printed; stderr:\n%s", i, callErr)
		assert.Equal(t, want, line)
	}

	require.NoError(t, call.Process.Signal(syscall.SIGINT))
	var exit *exec.ExitError
	require.ErrorAs(t, await(t, callExited, "call --stream's exit on SIGINT"), &exit)
	assert.Equal(t, exitInterrupted, exit.ExitCode(), "stderr:\n%s", callErr)
	assert.Equal(t, "got TERM", await(t, stopped, "the command's TERM trap"))

	require.NoError(t, server.Process.Signal(syscall.SIGTERM))
	err = await(t, serverExited, "serve's exit on SIGTERM")
	serverExited <- err // for the cleanup
	assert.NoError(t, err, "serve exits 0 on SIGTERM; stderr:\n%s", serverErr)
}
