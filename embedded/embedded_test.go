package embedded_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mqttrpc/mqttrpc/embedded"
)

// Hand-encoded CONNECT packets with clean start, keepalive 60 and client
// identifier "a".
var (
	connectV5 = []byte{
		0x10, 14,
		0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60,
		0, // no properties
		0, 1, 'a',
	}
	connectV311 = []byte{
		0x10, 13,
		0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60,
		0, 1, 'a',
	}
)

func start(t *testing.T, opts ...embedded.Option) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

// readPacket reads one MQTT control packet and returns its first byte
// (type and flags) and its body.
func readPacket(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	typ, err := r.ReadByte()
	if err != nil {
		t.Fatalf("read packet type: %v", err)
	}
	var n, shift int
	for {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("read remaining length: %v", err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("read packet body: %v", err)
	}
	return typ, body
}

func dial(t *testing.T, s *embedded.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

func TestStartClose(t *testing.T) {
	defer goleak.VerifyNone(t)

	s := start(t)
	if !strings.HasPrefix(s.URL(), "mqtt://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Errorf("URL() = %q, want mqtt://127.0.0.1:PORT", s.URL())
	}
	if s.URL() != "mqtt://"+s.Addr() {
		t.Errorf("URL() = %q, Addr() = %q", s.URL(), s.Addr())
	}

	// A client that connects but never sends CONNECT must not keep Close
	// from returning.
	c, _ := dial(t, s)

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after Close")
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Error("broker still accepts connections after Close")
	}
}

func TestConnect(t *testing.T) {
	tests := []struct {
		name    string
		connect []byte
	}{
		{"MQTT5", connectV5},
		{"MQTT311", connectV311},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			s := start(t)
			defer s.Close()

			c, r := dial(t, s)
			if _, err := c.Write(tt.connect); err != nil {
				t.Fatal(err)
			}
			typ, body := readPacket(t, r)
			if typ != 0x20 || len(body) < 2 {
				t.Fatalf("got packet %#x % x, want CONNACK", typ, body)
			}
			if body[1] != 0 {
				t.Fatalf("CONNACK reason code %#x, want 0 (accepted)", body[1])
			}
		})
	}
}

func TestCloseDisconnectsMQTT5Clients(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := start(t)
	defer s.Close()

	c, r := dial(t, s)
	if _, err := c.Write(connectV5); err != nil {
		t.Fatal(err)
	}
	readPacket(t, r) // CONNACK

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	typ, body := readPacket(t, r)
	if typ != 0xe0 || len(body) < 1 || body[0] != 0x8b {
		t.Fatalf("got packet %#x % x, want DISCONNECT with reason 0x8b (server shutting down)", typ, body)
	}
}

func TestWithAddr(t *testing.T) {
	defer goleak.VerifyNone(t)

	// Find a free port, then ask for it explicitly.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	s := start(t, embedded.WithAddr(addr))
	defer s.Close()
	if s.Addr() != addr {
		t.Errorf("Addr() = %q, want %q", s.Addr(), addr)
	}

	// The address is taken, so a second broker on it must fail.
	if s2, err := embedded.Start(embedded.WithAddr(addr)); err == nil {
		s2.Close()
		t.Error("second Start on the same address succeeded")
	}
}

// The properties an RPC request or response relies on must reach the
// subscriber unchanged: no Message Expiry added, and User Properties kept
// even when the subscriber connected with Request Problem Information 0.
func TestForwardsPublishProperties(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := start(t)
	defer s.Close()

	sub, subr := dial(t, s)
	sub.Write([]byte{
		0x10, 16,
		0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60,
		2, 0x17, 0, // Request Problem Information 0
		0, 1, 's',
	})
	readPacket(t, subr) // CONNACK
	sub.Write([]byte{
		0x82, 7,
		0, 1, // packet identifier
		0,               // no properties
		0, 1, 't', 0x00, // topic filter "t", QoS 0
	})
	if typ, _ := readPacket(t, subr); typ != 0x90 {
		t.Fatalf("got packet %#x, want SUBACK", typ)
	}

	props := []byte{
		0x08, 0, 1, 'r', // Response Topic "r"
		0x09, 0, 1, 'c', // Correlation Data "c"
		0x26, 0, 1, 'k', 0, 1, 'v', // User Property k=v
	}
	publish := append([]byte{0x30, byte(3 + 1 + len(props) + 1), 0, 1, 't', byte(len(props))}, props...)
	publish = append(publish, 'x')

	pub, pubr := dial(t, s)
	pub.Write(connectV5)
	readPacket(t, pubr) // CONNACK
	pub.Write(publish)

	typ, body := readPacket(t, subr)
	if typ != 0x30 {
		t.Fatalf("got packet %#x, want PUBLISH", typ)
	}
	// Topic name "t", property length, properties, payload.
	want := append([]byte{0, 1, 't', byte(len(props))}, props...)
	want = append(want, 'x')
	if !bytes.Equal(body, want) {
		t.Errorf("forwarded PUBLISH body\n got % x\nwant % x", body, want)
	}
}
