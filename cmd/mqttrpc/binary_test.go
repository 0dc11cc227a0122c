package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinary builds the command and runs it as a user would: a server that
// stops on SIGTERM, a call to it, and a usage mistake.
func TestBinary(t *testing.T) {
	bin := buildBinary(t, ".", "mqttrpc")

	url := mochi(t)
	tp := topic("binary")
	server := exec.Command(bin, "serve", tp, "--echo", "-s", url)
	stderr := newOutput()
	server.Stderr = stderr
	require.NoError(t, server.Start())
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	t.Cleanup(func() {
		server.Process.Kill() // a no-op once it has exited
		<-exited
	})
	stderr.waitFor(t, "mqttrpc: serving")

	call := exec.Command(bin, "call", tp, "hi", "-s", url)
	var stdout bytes.Buffer
	call.Stdout = &stdout
	require.NoError(t, call.Run())
	assert.Equal(t, "hi\n", stdout.String())

	err := exec.Command(bin).Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, exitUsage, exit.ExitCode())

	// A broker that refuses the connection fails the call at once.
	start := time.Now()
	err = exec.Command(bin, "call", "x", "-s", closedPortURL(t)).Run()
	took := time.Since(start)
	t.Logf("mqttrpc call x -s <closed port>: %v in %v", err, took)
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, exitConnection, exit.ExitCode())
	assert.Less(t, took, failFastLimit)

	version, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	assert.Contains(t, string(version), runtime.Version())

	require.NoError(t, server.Process.Signal(syscall.SIGTERM))
	err = await(t, exited, "serve's exit on SIGTERM")
	exited <- err // for the cleanup
	assert.NoError(t, err, "serve exits 0 on SIGTERM; stderr:\n%s", stderr)
}

// buildBinary builds the package pkg (".", the command) as name in the
// test's temporary directory and returns its path; it skips the test with
// -short, or without a go command.
func buildBinary(t *testing.T, pkg, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build with")
	}
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command(goBin, "build", "-o", bin, pkg)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}
