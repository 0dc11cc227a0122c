// Package wsconn carries MQTT over WebSocket: a WebSocket connection read
// and written as one byte stream, as MQTT defines it (MQTT 5.0 §6, MQTT
// 3.1.1 §6): data goes in binary messages, and packets need not line up
// with message boundaries.
package wsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocol is the WebSocket subprotocol MQTT asks for and answers with.
const Subprotocol = "mqtt"

// Conn is a WebSocket connection as a net.Conn. Each Write is one binary
// message; Read reads the messages one after another as a single stream.
// As with any net.Conn, one goroutine reads and one writes at a time.
type Conn struct {
	ws            *websocket.Conn
	r             io.Reader                 // the message being read; nil between messages
	writeDeadline atomic.Pointer[time.Time] // for the next message; nil for none
}

// New returns ws as a byte stream.
func New(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// Dial opens a WebSocket to u (ws:// or wss://, tlsConfig for the latter)
// asking for the mqtt subprotocol.
func Dial(ctx context.Context, u *url.URL, tlsConfig *tls.Config) (*Conn, error) {
	d := websocket.Dialer{
		TLSClientConfig:  tlsConfig,
		Subprotocols:     []string{Subprotocol},
		HandshakeTimeout: 0, // ctx bounds the handshake
	}
	ws, resp, err := d.DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return New(ws), nil
}

// errTextMessage is why a text message ends the stream: MQTT allows only
// binary messages.
var errTextMessage = errors.New("wsconn: text message on an MQTT WebSocket")

// Read reads from the current message, moving to the next one when it ends.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("%w (type %d)", errTextMessage, typ)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Write sends p as one binary message.
func (c *Conn) Write(p []byte) (int, error) {
	var deadline time.Time
	if d := c.writeDeadline.Load(); d != nil {
		deadline = *d
	}
	// The websocket.Conn keeps its write deadline in a field that only its
	// writer may touch: set it here, on the writer's goroutine.
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the connection without a closing handshake, as closing a TCP
// connection would.
func (c *Conn) Close() error { return c.ws.Close() }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline. Like a net.Conn's, it may be
// called while a Write is under way, and bounds that Write too.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(&t)
	return c.ws.NetConn().SetWriteDeadline(t)
}

// NetConn returns the connection the WebSocket runs on (TLS for wss), for
// the socket options a caller sets under it.
func (c *Conn) NetConn() net.Conn { return c.ws.NetConn() }
