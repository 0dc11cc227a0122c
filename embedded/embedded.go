// Package embedded runs an MQTT broker inside the current process, for
// examples and tests that need a real broker without any setup.
//
// The broker is mochi-mqtt (github.com/mochi-mqtt/server/v2). It speaks
// MQTT 5 and 3.1.1, accepts every client and allows every topic, and keeps
// all state in memory. It is not meant for production use.
package embedded

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Server is an MQTT broker running in this process.
type Server struct {
	broker *mqtt.Server
	ln     *listener
	ws     *listener // nil without WithWebsocket

	closeOnce sync.Once
	closeErr  error
}

// Option configures a Server.
type Option func(*config)

type config struct {
	addr       string
	wsAddr     string
	logger     *slog.Logger
	noShared   bool
	noWildcard bool
	subscribe  func(filter string) bool // nil: every filter
}

// WithAddr sets the TCP listen address; the default is "127.0.0.1:0" (a free loopback port).
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// WithWebsocket makes the broker accept MQTT over WebSocket on addr as
// well, for example "127.0.0.1:0" (a free loopback port); see
// [Server.WebsocketURL].
func WithWebsocket(addr string) Option {
	return func(c *config) { c.wsAddr = addr }
}

// WithLogger sets a *slog.Logger for the broker; default discards all logs.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil { // nil would make mochi log to stdout
			c.logger = l
		}
	}
}

// WithoutSharedSubscriptions makes the broker say in its MQTT 5 CONNACK that
// it offers no shared subscriptions (Shared Subscription Available 0), as
// some brokers do, and refuse any "$share/..." filter (SUBACK 0x87, the one
// refusal mochi knows): for testing how a client copes.
func WithoutSharedSubscriptions() Option {
	return func(c *config) { c.noShared = true }
}

// WithSubscribeCheck makes the broker refuse a SUBSCRIBE to any filter for
// which allow returns false, as a broker's access control would (SUBACK
// 0x87 on MQTT 5, 0x80 on 3.1.1). allow is asked at every SUBSCRIBE, so its
// answer may change: for testing how a client copes with a broker that
// refuses for a while.
func WithSubscribeCheck(allow func(filter string) bool) Option {
	return func(c *config) { c.subscribe = allow }
}

// WithoutWildcardSubscriptions is like WithoutSharedSubscriptions, for
// filters with '+' or '#' (Wildcard Subscription Available 0).
func WithoutWildcardSubscriptions() Option {
	return func(c *config) { c.noWildcard = true }
}

// Start starts a broker listening on TCP (and WebSocket, with
// [WithWebsocket]) and returns once it accepts connections.
func Start(opts ...Option) (*Server, error) {
	cfg := config{
		addr:   "127.0.0.1:0",
		logger: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}

	// Binding the socket here, rather than giving mochi an address, means
	// the real port is known without a bind-close-rebind race.
	nl, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("embedded: listen: %w", err)
	}

	caps := mqtt.NewDefaultServerCapabilities()
	// Mochi's default (one day) both caps the Message Expiry Interval and
	// adds one to every message that has none. Zero keeps expiry exactly
	// as the publisher set it.
	caps.MaximumMessageExpiryInterval = 0
	// Set explicitly, rather than relying on mochi's defaults, so that heavy
	// concurrent RPC load is not throttled or dropped: ReceiveMaximum is the
	// unacknowledged QoS>0 publishes a client may send, MaximumInflight the
	// ones the broker keeps per client, and MaximumClientWritesPending the
	// outbound queue per client beyond which mochi drops messages.
	caps.ReceiveMaximum = 1024
	caps.MaximumInflight = 8192
	caps.MaximumClientWritesPending = 8192
	// mochi otherwise copies a PUBLISH's properties into its PUBACK with
	// reason code 0x01, which is invalid there: MQTT.js and paho-mqtt reject it.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true

	b := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       cfg.logger,
	})
	if err := b.AddHook(&hook{noShared: cfg.noShared, noWildcard: cfg.noWildcard, subscribe: cfg.subscribe}, nil); err != nil {
		nl.Close()
		return nil, fmt.Errorf("embedded: %w", err)
	}
	ln := newListener("embedded", nl)
	if err := b.AddListener(ln); err != nil {
		nl.Close()
		return nil, fmt.Errorf("embedded: %w", err)
	}
	var ws *listener
	if cfg.wsAddr != "" {
		wl, err := listenWebsocket(cfg.wsAddr)
		if err == nil {
			ws = newListener("embedded-ws", wl)
			err = b.AddListener(ws)
		}
		if err != nil {
			b.Close()
			nl.Close()
			if wl != nil {
				wl.Close()
			}
			return nil, fmt.Errorf("embedded: websocket: %w", err)
		}
	}
	// Serve does not block: it starts the accept loop in the background.
	if err := b.Serve(); err != nil {
		b.Close()
		return nil, fmt.Errorf("embedded: %w", err)
	}
	return &Server{broker: b, ln: ln, ws: ws}, nil
}

// URL returns "mqtt://127.0.0.1:PORT" (the real bound port).
func (s *Server) URL() string {
	return "mqtt://" + s.Addr()
}

// WebsocketURL returns "ws://127.0.0.1:PORT/mqtt" with the real bound port,
// or "" without [WithWebsocket]. The broker answers on any path.
func (s *Server) WebsocketURL() string {
	if s.ws == nil {
		return ""
	}
	return "ws://" + s.ws.Address() + "/mqtt"
}

// Addr returns the bound host:port.
func (s *Server) Addr() string {
	return s.ln.Address()
}

// Attached reports whether the broker still holds the connection of a
// client that connected from remoteAddr (host:port): open, or closed and not
// yet cleaned up (a session that is not kept is deleted). The broker notices
// that a connection has dropped in its own time.
func (s *Server) Attached(remoteAddr string) bool {
	for _, cl := range s.broker.Clients.GetAll() {
		if cl.Net.Remote != remoteAddr {
			continue
		}
		kept := cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryInterval > 0 ||
			cl.Properties.ProtocolVersion < 5 && !cl.Properties.Clean
		if !cl.Closed() || !kept {
			return true
		}
	}
	return false
}

// Close stops the broker and closes all client connections. Safe to call twice.
//
// Connected MQTT 5 clients are sent a DISCONNECT with reason code 0x8B
// (server shutting down) first. Close returns once every connection is
// closed and its handler has returned.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.broker.Close()
	})
	return s.closeErr
}

// listener is a mochi listener over a net.Listener that, unlike mochi's
// own, also closes connections that have not yet completed the MQTT
// handshake. Mochi reads CONNECT without a deadline and waits for every
// connection on shutdown, so one silent client would block Close forever.
type listener struct {
	id string
	ln net.Listener

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // accept loop and connection handlers
}

func newListener(id string, ln net.Listener) *listener {
	return &listener{id: id, ln: ln, conns: make(map[net.Conn]struct{})}
}

func (l *listener) ID() string              { return l.id }
func (l *listener) Address() string         { return l.ln.Addr().String() }
func (l *listener) Protocol() string        { return "tcp" }
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until the listener is closed, handing each to
// establish in its own goroutine.
func (l *listener) Serve(establish listeners.EstablishFn) {
	// Registering under mu, and only while open, orders every wg.Add
	// before the wg.Wait in Close.
	if !l.add(nil) {
		return
	}
	defer l.wg.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		if !l.add(conn) {
			conn.Close()
			return
		}
		go func() {
			defer l.remove(conn)
			_ = establish(l.ID(), conn) // mochi logs and closes failed connections itself
		}()
	}
}

// add registers a running goroutine and, if conn is non-nil, its
// connection. It reports false once the listener is closed.
func (l *listener) add(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if conn != nil {
		l.conns[conn] = struct{}{}
	}
	l.wg.Add(1)
	return true
}

func (l *listener) remove(conn net.Conn) {
	l.mu.Lock()
	delete(l.conns, conn)
	l.mu.Unlock()
	l.wg.Done()
}

// Close is called by mochi's Server.Close. closeClients disconnects the
// clients mochi knows about, politely; whatever is left, such as
// connections still in the handshake, is closed abruptly.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()

	closeClients(l.ID())
	l.ln.Close()

	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// hook lets every client connect and use every topic, since mochi refuses
// all connections without an auth hook. It does what mochi's
// auth.AllowHook does, without importing that package, which would add
// gopkg.in/yaml.v3 to this module's dependencies.
//
// It also keeps mochi from dropping User Properties from the PUBLISH
// packets it forwards to clients that connected with Request Problem
// Information set to 0, as paho.golang does by default. That setting only
// concerns reason strings and user properties on acknowledgements; the
// spec requires PUBLISH to carry them regardless [MQTT-3.1.2-29].
type hook struct {
	mqtt.HookBase
	noShared, noWildcard bool // features turned off; mochi's Capabilities for them do nothing
	subscribe            func(filter string) bool
}

func (h *hook) ID() string { return "embedded" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnPacketEncode,
	}, []byte{b})
}

func (h *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (h *hook) OnACLCheck(_ *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	switch {
	case h.noShared && strings.HasPrefix(topic, "$share/"), h.noWildcard && strings.ContainsAny(topic, "+#"):
		return false
	case h.subscribe != nil:
		return h.subscribe(topic)
	}
	return true
}

func (h *hook) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		pk.Mods.DisallowProblemInfo = false
	case packets.Connack:
		if h.noShared {
			pk.Properties.SharedSubAvailable, pk.Properties.SharedSubAvailableFlag = 0, true
		}
		if h.noWildcard {
			pk.Properties.WildcardSubAvailable, pk.Properties.WildcardSubAvailableFlag = 0, true
		}
	}
	return pk
}
