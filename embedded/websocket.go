package embedded

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mqttrpc/mqttrpc/internal/wsconn"
)

// websocketListener is a net.Listener of MQTT over WebSocket connections: an
// HTTP server upgrades every request, on any path, and Accept returns the
// connection. Wrapped in a listener, its connections are tracked and closed
// as the TCP listener's are.
type websocketListener struct {
	ln    net.Listener
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func listenWebsocket(addr string) (*websocketListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l := &websocketListener{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	up := websocket.Upgrader{
		Subprotocols: []string{wsconn.Subprotocol},
		CheckOrigin:  func(*http.Request) bool { return true }, // a broker for tests and examples
	}
	l.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return // Upgrade has answered the request
			}
			select {
			case l.conns <- wsconn.New(ws):
			case <-l.done:
				ws.Close()
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go l.srv.Serve(ln) // ends when Close closes ln
	return l, nil
}

// Accept waits for the next upgraded connection.
func (l *websocketListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the HTTP server; connections already accepted stay open.
func (l *websocketListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.srv.Close()
	})
	return err
}

// Addr returns the bound address.
func (l *websocketListener) Addr() net.Addr { return l.ln.Addr() }
