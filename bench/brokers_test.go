package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mqttrpc/mqttrpc/embedded"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// mqttBroker is an MQTT broker the benchmarks run against. Each is started
// once per process, on first use, and shared by every benchmark: starting
// one per case would cost more than many cases take.
type mqttBroker struct {
	name string
	url  func(tb testing.TB) string
	cpu  brokerCPUFunc // nil for the embedded broker, whose CPU is this process's
}

var mqttBrokers = []mqttBroker{
	{"mochi", mochiURL, nil},
	{"mosquitto-stock", mosquittoStock.url, mosquittoStock.cpu},
	{"mosquitto-nodelay", mosquittoNodelay.url, mosquittoNodelay.cpu},
	{"mosquitto-raised", mosquittoRaised.url, mosquittoRaised.cpu},
}

var (
	mochiOnce sync.Once
	mochiSrv  *embedded.Server
	mochiErr  error

	natsOnce sync.Once
	natsSrv  *natsserver.Server
	natsErr  error
)

// mochiURL returns the URL of the embedded mochi broker, which runs in this
// process: its CPU time and allocations count in every mochi case.
func mochiURL(tb testing.TB) string {
	mochiOnce.Do(func() { mochiSrv, mochiErr = embedded.Start() })
	if mochiErr != nil {
		tb.Fatalf("embedded broker: %v", mochiErr)
	}
	return mochiSrv.URL()
}

// mosquitto is one mosquitto process, started on first use with conf (the
// listener line is added) on a free loopback port.
type mosquitto struct {
	conf string

	once sync.Once
	cmd  *exec.Cmd
	dir  string
	addr string
	err  error
}

// mosquittoStock is mosquitto as installed: nothing but the listener and
// allow_anonymous, without which mosquitto 2 refuses the benchmarks'
// clients. Nagle's algorithm is on (no set_tcp_nodelay), so a small packet
// to a client waits while the one before it is unacknowledged, and
// max_inflight_messages is 20 (which it announces to MQTT 5 clients as
// Receive Maximum 20, so at most 20 QoS 1 publishes of a client await their
// PUBACK) and max_queued_messages 1000. Its log goes to stderr, as by
// default: a line per connection, none per message.
var mosquittoStock = &mosquitto{conf: `allow_anonymous true
`}

// mosquittoNodelay keeps mosquitto's default limits but sets
// set_tcp_nodelay true, so that its small packets leave at once, whatever
// the client's acknowledgements.
var mosquittoNodelay = &mosquitto{conf: `allow_anonymous true
persistence false
set_tcp_nodelay true
log_dest none
`}

// mosquittoRaised is mosquittoNodelay with the limits raised so that
// neither 64 concurrent callers nor 10,000 pending requests are throttled
// or dropped by the broker.
var mosquittoRaised = &mosquitto{conf: `allow_anonymous true
persistence false
set_tcp_nodelay true
max_inflight_messages 1000
max_queued_messages 10000
log_dest none
`}

// url starts mosquitto, or skips when the binary is not installed. It runs
// as its own process, so its allocations do not show in allocs/op, but it
// shares the machine's cores.
func (m *mosquitto) url(tb testing.TB) string {
	m.once.Do(m.start)
	if m.err != nil {
		if os.IsNotExist(m.err) || m.err == exec.ErrNotFound {
			tb.Skipf("mosquitto: %v", m.err)
		}
		tb.Fatalf("mosquitto: %v", m.err)
	}
	return "mqtt://" + m.addr
}

func (m *mosquitto) start() {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		m.err = exec.ErrNotFound
		return
	}
	port, err := freePort()
	if err != nil {
		m.err = err
		return
	}
	if m.dir, err = os.MkdirTemp("", "bench-mosquitto-"); err != nil {
		m.err = err
		return
	}
	conf := fmt.Sprintf("listener %d 127.0.0.1\n%s", port, m.conf)
	confPath := filepath.Join(m.dir, "mosquitto.conf")
	if m.err = os.WriteFile(confPath, []byte(conf), 0o600); m.err != nil {
		return
	}
	// Its log goes to a file, not to the benchmark's output, where the
	// stock broker's connection lines would split result lines.
	logPath := filepath.Join(m.dir, "mosquitto.log")
	log, err := os.Create(logPath)
	if err != nil {
		m.err = err
		return
	}
	defer log.Close() // the process has its own descriptor
	m.cmd = exec.Command(bin, "-c", confPath)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if m.err = m.cmd.Start(); m.err != nil {
		return
	}
	m.addr = fmt.Sprintf("127.0.0.1:%d", port)
	if m.err = waitListening(m.addr, 5*time.Second); m.err != nil {
		out, _ := os.ReadFile(logPath)
		m.err = fmt.Errorf("%w; mosquitto's log:\n%s", m.err, out)
	}
}

// cpu returns the CPU time the mosquitto process has used so far.
func (m *mosquitto) cpu() (time.Duration, bool) {
	if m.cmd == nil || m.cmd.Process == nil {
		return 0, false
	}
	return pidCPU(m.cmd.Process.Pid)
}

func (m *mosquitto) stop() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		_ = m.cmd.Wait()
	}
	if m.dir != "" {
		_ = os.RemoveAll(m.dir)
	}
}

// freePort asks the kernel for an unused loopback port. Another process could
// take it before mosquitto binds it; waitListening would then fail loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// natsURL starts an in-process NATS server on a random loopback port.
func natsURL(tb testing.TB) string {
	natsOnce.Do(func() {
		natsSrv, natsErr = natsserver.NewServer(&natsserver.Options{
			Host:   "127.0.0.1",
			Port:   natsserver.RANDOM_PORT,
			NoLog:  true,
			NoSigs: true,
		})
		if natsErr != nil {
			return
		}
		natsSrv.Start()
		if !natsSrv.ReadyForConnections(5 * time.Second) {
			natsErr = fmt.Errorf("nats-server not ready")
		}
	})
	if natsErr != nil {
		tb.Fatalf("nats-server: %v", natsErr)
	}
	return natsSrv.ClientURL()
}

func stopBrokers() {
	if mochiSrv != nil {
		_ = mochiSrv.Close()
	}
	mosquittoStock.stop()
	mosquittoNodelay.stop()
	mosquittoRaised.stop()
	if natsSrv != nil {
		natsSrv.Shutdown()
		natsSrv.WaitForShutdown()
	}
}
