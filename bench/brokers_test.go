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
}

var mqttBrokers = []mqttBroker{
	{"mochi", mochiURL},
	{"mosquitto", mosquittoURL},
}

var (
	mochiOnce sync.Once
	mochiSrv  *embedded.Server
	mochiErr  error

	mosqOnce sync.Once
	mosqCmd  *exec.Cmd
	mosqDir  string
	mosqAddr string
	mosqErr  error

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

// mosquittoURL starts mosquitto on a free loopback port, or skips when the
// binary is not installed. It runs as its own process, so its allocations do
// not show in allocs/op, but it shares the machine's cores.
func mosquittoURL(tb testing.TB) string {
	mosqOnce.Do(startMosquitto)
	if mosqErr != nil {
		if os.IsNotExist(mosqErr) || mosqErr == exec.ErrNotFound {
			tb.Skipf("mosquitto: %v", mosqErr)
		}
		tb.Fatalf("mosquitto: %v", mosqErr)
	}
	return "mqtt://" + mosqAddr
}

func startMosquitto() {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		mosqErr = exec.ErrNotFound
		return
	}
	port, err := freePort()
	if err != nil {
		mosqErr = err
		return
	}
	if mosqDir, err = os.MkdirTemp("", "bench-mosquitto-"); err != nil {
		mosqErr = err
		return
	}
	// Limits raised so that 64 concurrent callers, and 10,000 pending
	// requests, are not throttled or dropped by the broker's defaults.
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_inflight_messages 1000
max_queued_messages 10000
log_dest none
`, port)
	confPath := filepath.Join(mosqDir, "mosquitto.conf")
	if mosqErr = os.WriteFile(confPath, []byte(conf), 0o600); mosqErr != nil {
		return
	}
	mosqCmd = exec.Command(bin, "-c", confPath)
	mosqCmd.Stdout, mosqCmd.Stderr = os.Stderr, os.Stderr
	if mosqErr = mosqCmd.Start(); mosqErr != nil {
		return
	}
	mosqAddr = fmt.Sprintf("127.0.0.1:%d", port)
	mosqErr = waitListening(mosqAddr, 5*time.Second)
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
	if mosqCmd != nil && mosqCmd.Process != nil {
		_ = mosqCmd.Process.Kill()
		_ = mosqCmd.Wait()
	}
	if mosqDir != "" {
		_ = os.RemoveAll(mosqDir)
	}
	if natsSrv != nil {
		natsSrv.Shutdown()
		natsSrv.WaitForShutdown()
	}
}
