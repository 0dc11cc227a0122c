package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// TestMain fails the run if a test leaves a goroutine behind: every
// command run in process must have stopped everything it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait of these tests for something to happen.
const waitLimit = 15 * time.Second

// output is a standard stream a command writes to, safe to read while it
// writes, that tells waiters about each write.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // gets a token after each write
}

func newOutput() *output { return &output{written: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case o.written <- struct{}{}:
	default:
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until s has been written, and returns the output so far.
func (o *output) waitFor(t testing.TB, s string) string {
	t.Helper()
	limit := time.After(waitLimit)
	for {
		if out := o.String(); strings.Contains(out, s) {
			return out
		}
		select {
		case <-o.written:
		case <-limit:
			t.Fatalf("%q not written within %v; got:\n%s", s, waitLimit, o.String())
		}
	}
}

// result is what one command run left: its exit code and output.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command line args in process, with stdin as standard
// input, and returns what it did. It fails the test if the command does
// not end within waitLimit.
func cli(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	stdout, stderr := newOutput(), newOutput()
	code := run(ctx, args, strings.NewReader(stdin), stdout, stderr)
	require.NoError(t, ctx.Err(), "mqttrpc %q ran out of time", args)
	return result{code, stdout.String(), stderr.String()}
}

// serve runs "mqttrpc serve" with args in process until the test ends,
// then stops it as SIGINT would and checks that it drained and exited 0.
// It returns once the subscription is in place, with what it has written
// on stderr.
func serve(t testing.TB, args ...string) string {
	t.Helper()
	return serveOut(t, args...).String()
}

// serveOut is serve, returning serve's stderr as it goes on being written.
func serveOut(t testing.TB, args ...string) *output {
	t.Helper()
	_, stderr := background(t, append([]string{"serve"}, args...), servingLine)
	return stderr
}

var servingLine = regexp.MustCompile(`mqttrpc: serving`)

// background runs mqttrpc with args in process until the test ends, then
// stops it as SIGINT would and checks that it exited 0. It returns once
// ready matches its stderr, with the match and the stderr as it goes on
// being written.
func background(t testing.TB, args []string, ready *regexp.Regexp) ([]string, *output) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := newOutput()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, args, strings.NewReader(""), newOutput(), stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := await(t, exited, fmt.Sprintf("the exit of %q", args)); code != exitOK {
			t.Errorf("%q exited %d; stderr:\n%s", args, code, stderr)
		}
	})
	limit := time.After(waitLimit)
	for {
		if m := ready.FindStringSubmatch(stderr.String()); m != nil {
			return m, stderr
		}
		select {
		case code := <-exited:
			t.Fatalf("%q exited %d before it was ready; stderr:\n%s", args, code, stderr)
		case <-stderr.written:
		case <-limit:
			t.Fatalf("%q not ready within %v; stderr:\n%s", args, waitLimit, stderr)
		}
	}
}

// libBroker connects the library to the broker at url, for the test's
// own services and calls, and closes it when the test ends.
func libBroker(t testing.TB, url string, opts ...mqttrpc.Option) *mqttrpc.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b, err := mqttrpc.Connect(ctx, url, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { closeBroker(b) })
	return b
}

// await returns what ch gets, failing the test after waitLimit.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s: nothing within %v", what, waitLimit)
		var zero T
		return zero
	}
}

// mochi starts an embedded broker for the test and returns its URL.
func mochi(t testing.TB) string {
	t.Helper()
	srv, err := embedded.Start()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv.URL()
}

// mosquittoPath finds the mosquitto binary, which Debian installs in
// /usr/sbin, often not on PATH.
func mosquittoPath() (string, bool) {
	for _, name := range []string{"mosquitto", "/usr/sbin/mosquitto"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// mosquitto starts mosquitto on a free loopback port for the test and
// returns its address. Without mosquitto the test is skipped, or fails in
// CI (CI non-empty), which installs it.
func mosquitto(t testing.TB) string {
	t.Helper()
	return "mqtt://" + mosquittoWith(t, "")
}

// mosquittoWith starts mosquitto with a listener on a free loopback port
// and extra lines of configuration, and returns the listener's address.
func mosquittoWith(t testing.TB, extra string) string {
	t.Helper()
	bin, ok := mosquittoPath()
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatal("mosquitto required in CI")
		}
		t.Skip("mosquitto not installed")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := writeFile(t, "mosquitto.conf", "listener "+port+" 127.0.0.1\nallow_anonymous true\n"+extra)
	cmd := exec.Command(bin, "-c", conf)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mosquitto:\n%s", log.String())
		}
	})
	awaitListening(t, addr, exited)
	return addr
}

// awaitListening waits until addr accepts TCP connections, failing the
// test if exited closes first.
func awaitListening(t testing.TB, addr string, exited <-chan struct{}) {
	t.Helper()
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	limit := time.After(waitLimit)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto on %s exited before listening", addr)
		case <-limit:
			t.Fatalf("nothing listening on %s within %v", addr, waitLimit)
		case <-retry.C:
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// brokers returns the brokers a test runs against, by name: the embedded
// one, and mosquitto where it is installed (in CI always).
func brokers(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{"mochi": mochi(t)}
	if _, ok := mosquittoPath(); ok || os.Getenv("CI") != "" {
		m["mosquitto"] = mosquitto(t)
	}
	return m
}

var topicSeq atomic.Int64

// topic returns a topic no other test uses.
func topic(name string) string {
	return fmt.Sprintf("cli-test/%d/%s", topicSeq.Add(1), name)
}

// writeFile writes data to a file in the test's temporary directory and
// returns its path.
func writeFile(t testing.TB, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(data), 0o600))
	return p
}

// closedPortURL returns the URL of a loopback port nobody listens on.
func closedPortURL(t testing.TB) string {
	return "mqtt://" + freeAddr(t)
}
