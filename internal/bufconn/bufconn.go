// Package bufconn cuts the system calls the Paho clients make per packet.
// Both read a connection unbuffered, a byte or two at a time, and paho.golang
// writes each packet as several buffers. A Conn buffers reads, and sends each
// packet in one write: paho.golang writes every packet between Lock and
// Unlock (see packets.ControlPacket.WriteTo), so Unlock is where the packet
// is complete. paho.mqtt.golang, which writes each packet whole and takes no
// lock, gets its writes passed straight through.
package bufconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
)

// maxBatch is the largest packet gathered before writing; a larger one is
// written as it comes, which costs less than copying it.
const maxBatch = 64 << 10

// Conn is a net.Conn whose reads are buffered and whose packets each leave in
// one write. It implements sync.Locker, which paho takes as the promise that
// concurrent packets do not interleave.
type Conn struct {
	net.Conn
	r *bufio.Reader

	mu       sync.Mutex
	batching bool   // between Lock and Unlock; only the holder writes
	pending  []byte // the packet so far
	err      error  // the first failed write: the connection is dead
}

// New wraps c.
func New(c net.Conn) *Conn {
	return &Conn{Conn: c, r: bufio.NewReaderSize(c, 32<<10)}
}

// Read reads from the buffer, refilling it from the connection.
func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Lock starts a packet.
func (c *Conn) Lock() {
	c.mu.Lock()
	c.batching = true
}

// Write adds p to the packet being written, or writes it at once outside a
// packet or when the packet grows too large to be worth copying.
func (c *Conn) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.batching {
		return c.Conn.Write(p)
	}
	if len(c.pending)+len(p) > maxBatch {
		if err := c.flush(); err != nil {
			return 0, err
		}
		n, err := c.Conn.Write(p)
		c.fail(err)
		return n, err
	}
	c.pending = append(c.pending, p...)
	return len(p), nil
}

// Unlock writes the packet and ends it. Unlock cannot return an error, so a
// failed write closes the connection: paho's reader then sees the failure
// and the connection is re-established, as for any broken connection.
func (c *Conn) Unlock() {
	_ = c.flush()
	c.batching = false
	c.mu.Unlock()
}

func (c *Conn) flush() error {
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	c.fail(err)
	return err
}

func (c *Conn) fail(err error) {
	if err != nil && c.err == nil {
		c.err = err
		c.Conn.Close()
	}
}

// Dial connects to the MQTT broker at u over TCP, or TLS for the mqtts, ssl,
// tls, mqtt+ssl and tcps schemes, and wraps the connection.
func Dial(ctx context.Context, u *url.URL, tlsConfig *tls.Config) (*Conn, error) {
	var d net.Dialer
	var c net.Conn
	var err error
	switch u.Scheme {
	case "mqtt", "tcp", "":
		c, err = d.DialContext(ctx, "tcp", u.Host)
	case "mqtts", "ssl", "tls", "mqtt+ssl", "tcps":
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig}
		c, err = td.DialContext(ctx, "tcp", u.Host)
	default:
		return nil, fmt.Errorf("unsupported URL scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return New(c), nil
}
