package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnvironment_server takes the broker from MQTTRPC_SERVER, and -s
// over it.
func TestEnvironment_server(t *testing.T) {
	url := mochi(t)
	tp := topic("env")
	t.Setenv(envServer, url)
	serve(t, tp, "--echo")

	r := cli(t, "", "call", tp, "hi")
	assert.Equal(t, result{exitOK, "hi\n", ""}, r)

	r = cli(t, "", "call", tp, "hi", "-s", closedPortURL(t))
	assert.Equal(t, exitConnection, r.code, "-s goes before MQTTRPC_SERVER: %s", r.stderr)

	t.Setenv(envServer, "http://"+hostOf(t, url))
	r = cli(t, "", "call", tp, "hi")
	assert.Equal(t, exitUsage, r.code, r.stderr)
}

// TestEnvironment_credentials connects to a mosquitto that wants a
// password, given by MQTTRPC_USER and MQTTRPC_PASSWORD, by
// --password-file, or by -P, the flags going before the environment.
func TestEnvironment_credentials(t *testing.T) {
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "passwd")
	out, err := exec.Command(passwd, "-b", "-c", users, "alice", "s3cret").CombinedOutput()
	require.NoError(t, err, "%s", out)
	// mosquitto started as root reads it as the user it switches to.
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Chmod(users, 0o644))
	url := "mqtt://" + mosquittoWith(t, "allow_anonymous false\npassword_file "+users+"\n")
	tp := topic("auth")

	t.Setenv(envUser, "alice")
	t.Setenv(envPassword, "s3cret")
	serve(t, tp, "--echo", "-s", url)
	r := cli(t, "", "call", tp, "from env", "-s", url)
	assert.Equal(t, result{exitOK, "from env\n", ""}, r)

	r = cli(t, "", "call", tp, "hi", "-s", url, "-P", "wrong")
	assert.Equal(t, exitConnection, r.code, "-P goes before MQTTRPC_PASSWORD: %s", r.stderr)

	t.Setenv(envPassword, "wrong")
	file := writeFile(t, "password", "s3cret\n")
	r = cli(t, "", "call", tp, "from file", "-s", url, "--password-file", file)
	assert.Equal(t, result{exitOK, "from file\n", ""}, r)

	t.Setenv(envUser, "")
	r = cli(t, "", "call", tp, "hi", "-s", url, "-u", "alice", "-P", "s3cret")
	assert.Equal(t, result{exitOK, "hi\n", ""}, r)

	r = cli(t, "", "call", tp, "hi", "-s", url, "--password-file", filepath.Join(t.TempDir(), "none"))
	assert.Equal(t, exitFailure, r.code, r.stderr)
	assert.Contains(t, r.stderr, "mqttrpc call: --password-file: ")
}
