// Package brokertest starts real MQTT brokers for tests: the embedded
// mochi broker, and mosquitto when it is installed.
package brokertest

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc/embedded"
)

// startTimeout bounds how long mosquitto may take to accept connections.
const startTimeout = 5 * time.Second

// Broker is a running MQTT broker for a test.
type Broker struct {
	Name string // "mochi", "mochi-ws", "mosquitto", "mosquitto-stock" or "nats"
	URL  string // mqtt://127.0.0.1:PORT

	// attached reports whether the embedded broker still holds a client
	// connected from an address; nil for broker processes.
	attached func(remoteAddr string) bool

	// broker processes only
	bin    string
	addr   string // 127.0.0.1:PORT
	conf   string // path of the filled-in config file
	stderr *syncBuffer
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has exited
}

// Mochi starts an embedded broker (package embedded) and closes it in t.Cleanup.
//
// Broker warnings, such as a client reaching its inflight quota, go to the
// test log.
func Mochi(t testing.TB) *Broker {
	t.Helper()
	return MochiWith(t)
}

// MochiWith is like Mochi, with options for the embedded broker, e.g. to
// turn features off.
func MochiWith(t testing.TB, opts ...embedded.Option) *Broker {
	t.Helper()
	s := startMochi(t, opts)
	return &Broker{Name: "mochi", URL: s.URL(), attached: s.Attached}
}

// MochiWebsocket is like Mochi, with clients on MQTT over WebSocket: its URL
// is ws://.
func MochiWebsocket(t testing.TB) *Broker {
	t.Helper()
	s := startMochi(t, []embedded.Option{embedded.WithWebsocket("127.0.0.1:0")})
	return &Broker{Name: "mochi-ws", URL: s.WebsocketURL(), attached: s.Attached}
}

func startMochi(t testing.TB, opts []embedded.Option) *embedded.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := embedded.Start(append([]embedded.Option{embedded.WithLogger(logger)}, opts...)...)
	if err != nil {
		t.Fatalf("brokertest: start mochi: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Mosquitto starts a mosquitto process on a free loopback port from testdata config and kills it in t.Cleanup.
// If the mosquitto binary is not on PATH (exec.LookPath, also check /usr/sbin/mosquitto), it calls t.Skip —
// unless the environment variable CI is non-empty, in which case it calls t.Fatal ("mosquitto required in CI").
//
// The config is testdata/mosquitto.conf at the module root. Mosquitto's
// log goes to the test log if the test fails.
func Mosquitto(t testing.TB) *Broker {
	t.Helper()
	return MosquittoWith(t, "")
}

// MosquittoWith is like Mosquitto, with extraConfig appended to the config
// file, e.g. for TLS listeners or ACLs.
func MosquittoWith(t testing.TB, extraConfig string) *Broker {
	t.Helper()
	return startMosquitto(t, requireMosquitto(t), extraConfig)
}

// MosquittoPersistent is like Mosquitto, with persistence on, in a
// directory of the test's: a broker that Stop and Restart take down and
// bring back keeps its sessions, their subscriptions and the QoS 1 and 2
// messages queued for them, as a broker restarted for an upgrade does.
// (Kill, like a crash, loses what changed since mosquitto last saved.)
func MosquittoPersistent(t testing.TB) *Broker {
	t.Helper()
	dir := t.TempDir()
	conf := "persistence true\npersistence_location " + dir + "/\n"
	// mosquitto started as root switches to the user "mosquitto", who may
	// not write dir; it stays who it is if told to be.
	if u, err := user.Current(); err == nil {
		conf += "user " + u.Username + "\n"
	}
	return MosquittoWith(t, conf)
}

// requireMosquitto returns the path of mosquitto, or skips the test where it
// is not installed; in CI it fails it.
func requireMosquitto(t testing.TB) string {
	t.Helper()
	bin, ok := mosquittoPath()
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatal("brokertest: mosquitto required in CI")
		}
		t.Skip("brokertest: mosquitto not installed")
	}
	return bin
}

// stockConfig is mosquitto as installed, but for the listener and anonymous
// clients, which mosquitto 2 refuses unless told: no set_tcp_nodelay, and
// its default limits. Unlike testdata/mosquitto.conf's, its replies wait on
// Nagle's algorithm for the client's acknowledgement of what came before.
const stockConfig = "listener ${PORT} 127.0.0.1\nallow_anonymous true\n"

// MosquittoStock is like MosquittoWith, from a config that sets nothing but
// a loopback listener and allow_anonymous, instead of testdata/mosquitto.conf:
// for tests of how clients fare on a broker left at its defaults.
func MosquittoStock(t testing.TB, extraConfig string) *Broker {
	t.Helper()
	return startMosquittoFrom(t, requireMosquitto(t), "mosquitto-stock", stockConfig, extraConfig)
}

// All returns Mochi and, where available, Mosquitto (same CI rule: in CI missing mosquitto is t.Fatal; outside CI it is just left out, no skip of the whole test).
func All(t testing.TB) []*Broker {
	t.Helper()
	brokers := []*Broker{Mochi(t)}
	bin, ok := mosquittoPath()
	switch {
	case ok:
		brokers = append(brokers, startMosquitto(t, bin, ""))
	case os.Getenv("CI") != "":
		t.Fatal("brokertest: mosquitto required in CI")
	}
	return brokers
}

// Kill stops the broker process (mosquitto, nats-server) with SIGKILL and waits for it to exit (t.Fatal on mochi).
//
// Killing a broker that is not running does nothing.
func (b *Broker) Kill(t testing.TB) {
	t.Helper()
	if b.bin == "" {
		t.Fatalf("brokertest: Kill is only supported for broker processes, not %s", b.Name)
	}
	b.kill()
}

// Stop stops the broker process with SIGTERM, as a service manager does,
// and waits for it to exit: mosquitto saves its state first (see
// MosquittoPersistent). Stopping a broker that is not running does nothing.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	if b.bin == "" {
		t.Fatalf("brokertest: Stop is only supported for broker processes, not %s", b.Name)
	}
	if b.cmd == nil {
		return
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Logf("brokertest: SIGTERM: %v", err)
	}
	select {
	case <-b.exited:
	case <-time.After(startTimeout):
		t.Errorf("brokertest: %s did not exit within %v of SIGTERM", b.Name, startTimeout)
	}
	b.kill()
}

// Restart starts the broker process again on the same port with the same config and waits until the port accepts TCP.
//
// A broker that is still running is killed first.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	if b.bin == "" {
		t.Fatalf("brokertest: Restart is only supported for broker processes, not %s", b.Name)
	}
	b.kill()
	if err := b.start(); err != nil {
		t.Fatalf("brokertest: restart mosquitto: %v", err) // cleanup logs stderr
	}
}

// mosquittoPath finds the mosquitto binary. Debian and Ubuntu install it
// in /usr/sbin, which is often not on a user's PATH.
func mosquittoPath() (string, bool) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, true
	}
	if p, err := exec.LookPath("/usr/sbin/mosquitto"); err == nil {
		return p, true
	}
	return "", false
}

func startMosquitto(t testing.TB, bin, extraConfig string) *Broker {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join(moduleRoot(t), "testdata", "mosquitto.conf"))
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return startMosquittoFrom(t, bin, "mosquitto", string(tmpl), extraConfig)
}

// startMosquittoFrom starts mosquitto from the config tmpl, with ${PORT}
// replaced by a free loopback port and extraConfig appended.
func startMosquittoFrom(t testing.TB, bin, name, tmpl, extraConfig string) *Broker {
	t.Helper()
	b := &Broker{
		Name:   name,
		bin:    bin,
		conf:   filepath.Join(t.TempDir(), "mosquitto.conf"),
		stderr: new(syncBuffer),
	}
	t.Cleanup(func() {
		b.kill()
		if t.Failed() && b.stderr.Len() > 0 {
			t.Logf("mosquitto stderr:\n%s", b.stderr)
		}
	})

	// The free port is found by binding and releasing it, so something
	// else may take it before mosquitto binds it; try a few ports.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		conf := strings.ReplaceAll(tmpl, "${PORT}", strconv.Itoa(port)) + "\n" + extraConfig + "\n"
		if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		b.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		b.URL = "mqtt://" + b.addr
		err = b.start()
		if err == nil {
			return b
		}
		if attempt == 3 || !strings.Contains(b.stderr.String(), "Address already in use") {
			t.Fatalf("brokertest: start mosquitto: %v", err) // cleanup logs stderr
		}
	}
}

// start runs the broker and waits until it accepts TCP connections.
func (b *Broker) start() error {
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stderr = b.stderr
	cmd.Stdout = b.stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	b.cmd, b.exited = cmd, exited

	deadline := time.Now().Add(b.startTimeout())
	for {
		c, err := net.DialTimeout("tcp", b.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited: %v", b.Name, cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.kill()
			return fmt.Errorf("%s not accepting connections after %v", b.addr, b.startTimeout())
		}
	}
}

func (b *Broker) kill() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Kill() // fails only if it has already exited
	<-b.exited
	b.cmd = nil
}

// FreePort returns a loopback TCP port that was free a moment ago, for an
// extra listener given to MosquittoWith (e.g. a TLS listener). Unlike the
// default listener's port, it is not retried if something takes it first.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return port
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// moduleRoot finds the directory holding go.mod, walking up from the
// working directory, which go test sets to the package under test.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("brokertest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, since exec copies
// the process output from its own goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// UnusedURL returns the URL of a loopback port that nothing listens on, for
// tests of connection failures.
func UnusedURL(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("mqtt://127.0.0.1:%d", port)
}
