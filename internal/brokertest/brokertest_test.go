package brokertest_test

import (
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connect sends an MQTT 5 CONNECT to addr and checks that the broker
// accepts it.
func connect(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))

	connect := []byte{
		0x10, 14,
		0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, // clean start, keepalive 60
		0,         // no properties
		0, 1, 'a', // client identifier
	}
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	// CONNACK: type, remaining length (short), flags, reason code.
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("got % x, want a CONNACK with reason code 0", ack)
	}
}

func hostPort(t *testing.T, b *brokertest.Broker) string {
	t.Helper()
	u, err := url.Parse(b.URL)
	if err != nil || u.Scheme != "mqtt" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		t.Fatalf("%s URL %q, want mqtt://127.0.0.1:PORT", b.Name, b.URL)
	}
	return u.Host
}

func TestMochi(t *testing.T) {
	b := brokertest.Mochi(t)
	if b.Name != "mochi" {
		t.Errorf("Name = %q", b.Name)
	}
	connect(t, hostPort(t, b))
}

func TestMosquitto(t *testing.T) {
	b := brokertest.Mosquitto(t)
	if b.Name != "mosquitto" {
		t.Errorf("Name = %q", b.Name)
	}
	addr := hostPort(t, b)
	connect(t, addr)

	b.Kill(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("port still accepts connections after Kill")
	}
	b.Kill(t) // already dead: no-op

	b.Restart(t)
	connect(t, addr)

	b.Restart(t) // while running
	connect(t, addr)
}

func TestMosquittoWith(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	brokertest.MosquittoWith(t, "listener "+strconv.Itoa(port)+" 127.0.0.1\n")
	// mosquitto opens its listeners one after another; start waited only for
	// the first.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "mosquitto's second listener opens")
	connect(t, addr)
}

func TestAll(t *testing.T) {
	brokers := brokertest.All(t)
	if len(brokers) == 0 || brokers[0].Name != "mochi" {
		t.Fatalf("All()[0] is not mochi: %v", brokers)
	}
	for _, b := range brokers {
		t.Run(b.Name, func(t *testing.T) {
			connect(t, hostPort(t, b))
		})
	}
}

// TestProxyStall: while stalled, the proxy passes nothing and closes
// nothing; after Resume, what was held back arrives.
func TestProxyStall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // an echo server; ends when the listener closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p := brokertest.NewProxy(t, &brokertest.Broker{Name: "echo", URL: "mqtt://" + ln.Addr().String()})
	c, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "mqtt://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo := func(want string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	echo("a")

	p.Stall()
	if _, err := c.Write([]byte("b")); err != nil {
		t.Fatal("a stalled link still takes writes into its buffers:", err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes, %v during the stall; want nothing, and the connection open", n, err)
	}
	p.Resume()
	echo("b")
}
