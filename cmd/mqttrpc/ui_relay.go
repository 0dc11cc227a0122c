package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mqttrpc/mqttrpc/internal/wsconn"
)

// relay carries MQTT over WebSocket from the page to a broker over TCP or
// TLS, so that the page reaches a broker with no WebSocket listener. It
// does not read MQTT: each WebSocket's bytes go to a TCP connection of its
// own, and back, as they come, so the page's CONNECT, credentials and all,
// is the broker's to judge.
type relay struct {
	target      *url.URL    // the broker: mqtt://, tcp://, mqtts:// or ssl://; nil when the page goes to it directly
	tls         *tls.Config // for mqtts:// and ssl://; nil for the system's roots
	dialTimeout time.Duration
	upgrader    websocket.Upgrader

	ctx    context.Context // ends when the command stops, closing every relayed connection
	cancel context.CancelFunc
	mu     sync.Mutex // orders wg.Add before close's wg.Wait
	closed bool
	wg     sync.WaitGroup // the relayed connections' handlers
}

// newRelay returns a relay to target, or one that refuses every request
// when target is nil.
func newRelay(target *url.URL, cfg *tls.Config, dialTimeout time.Duration) *relay {
	ctx, cancel := context.WithCancel(context.Background())
	return &relay{
		target:      target,
		tls:         cfg,
		dialTimeout: dialTimeout,
		// CheckOrigin is left nil: gorilla then upgrades only requests
		// whose Origin is this server (or that send none, as non-browser
		// clients do). Any other site open in the operator's browser could
		// otherwise open a WebSocket here and reach the broker through it.
		upgrader: websocket.Upgrader{Subprotocols: []string{wsconn.Subprotocol}},
		ctx:      ctx,
		cancel:   cancel,
	}
}

// ServeHTTP upgrades the request to a WebSocket, connects to the broker
// and relays between them until either side ends or the relay closes.
func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.target == nil {
		http.Error(w, "no relay: the page connects to the broker's own WebSocket listener", http.StatusNotFound)
		return
	}
	if !r.add() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer r.wg.Done()
	ws, err := r.upgrader.Upgrade(w, req, nil)
	if err != nil {
		return // Upgrade has answered the request: 403 for another origin
	}
	broker, err := r.dial()
	if err != nil {
		// The page's MQTT client sees a closed connection; the reason is
		// for whoever looks at the WebSocket frames.
		msg := websocket.FormatCloseMessage(websocket.CloseTryAgainLater, truncate("broker: "+err.Error(), 120))
		ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		ws.Close()
		return
	}
	r.pipe(wsconn.New(ws), broker)
}

// add registers a relayed connection, and reports false once the relay is
// closed.
func (r *relay) add() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	return true
}

// dial connects to the broker, with TLS for mqtts:// and ssl://.
func (r *relay) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.dialTimeout)
	defer cancel()
	addr := hostPort(r.target)
	if s := r.target.Scheme; s == "mqtts" || s == "ssl" {
		cfg := r.tls
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		// The dialer takes the server name from addr when cfg has none.
		d := tls.Dialer{Config: cfg}
		return d.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// pipe copies page to broker and broker to page until either ends or the
// relay closes, then closes both.
func (r *relay) pipe(page, broker net.Conn) {
	var copies sync.WaitGroup
	stopped := make(chan struct{}, 2)
	copies.Go(func() { io.Copy(broker, page); stopped <- struct{}{} })
	copies.Go(func() { io.Copy(page, broker); stopped <- struct{}{} })
	select {
	case <-stopped:
	case <-r.ctx.Done():
	}
	// Closing both ends the other copy, whichever it is.
	page.Close()
	broker.Close()
	copies.Wait()
}

// close closes every relayed connection and waits for their handlers to
// return; later requests are refused.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// truncate cuts s to at most n bytes, as a WebSocket close reason must be
// short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
