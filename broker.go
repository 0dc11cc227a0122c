package mqttrpc

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/tasks"

	"github.com/mqttrpc/mqttrpc/internal/ids"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// Broker is a connection to an MQTT broker that serves handlers and sends
// requests. It reconnects by itself and restores its subscriptions after every
// reconnect. A Broker is safe for concurrent use; make it with [Connect] and
// end it with [Broker.Close].
type Broker struct {
	cfg   config
	log   *slog.Logger
	t     transport
	inbox string   // "<prefix>/<token>/": request i waits on inbox+<token i>
	urls  []string // every server, in the order tried, passwords masked

	pending  pendingTable
	routes   atomic.Pointer[routes] // replaced under mu, read by deliver without a lock
	stats    stats
	notes    *stateNotifier // nil without a state handler
	services serviceRegistry
	running  runningCalls // handlers a cancel can reach

	conn *connection

	replies replyState

	mu        sync.Mutex // guards the handler table's changes and what follows
	lastSubID int        // the last MQTT 5 Subscription Identifier given out

	handlerCtx   context.Context // parent of every handler's context
	stopHandlers context.CancelFunc
	tasks        tasks.Group   // goroutines started by the dispatcher
	handlers     handlerPool   // the goroutines requests are served on
	restores     tasks.Group   // restore goroutines, which Close waits for
	refusals     chan struct{} // one token per 503 reply being sent

	dialed       chan struct{} // closed once t is set: events may come before
	closing      chan struct{} // closed when Close starts: no new work is taken
	closed       chan struct{} // closed when Close ends waiting requests
	closeStarted atomic.Bool
	closeDone    chan struct{} // closed when Close has finished
}

// Connect connects to the MQTT broker at rawURL and returns once the
// connection is up and the reply inbox is subscribed. Schemes: mqtt:// and
// tcp:// (default port 1883), mqtts:// and ssl:// (TLS, default port 8883),
// ws:// and wss:// (MQTT over WebSocket, default ports 80 and 443). With
// [WithServers], rawURL is the first of several servers. It gives up when
// ctx ends or after the connect timeout (see [WithConnectTimeout]),
// whichever comes first.
func Connect(ctx context.Context, rawURL string, opts ...Option) (*Broker, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		cfg = opt.applyConfig(cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, opError("connect", "", err)
	}
	servers, err := parseURLs(append([]string{rawURL}, cfg.servers...))
	if err != nil {
		return nil, opError("connect", "", err)
	}
	if cfg.clientID == "" {
		cfg.clientID = "mqttrpc-" + ids.Token()
	}
	if err := topic.ValidName(cfg.inboxPrefix); err != nil {
		return nil, opError("connect", "", fail(ErrInvalidTopic, "inbox prefix %q: %w", cfg.inboxPrefix, err))
	}
	b := newBroker(cfg)
	for _, u := range servers {
		b.urls = append(b.urls, u.Redacted())
	}
	if b.t, err = dial(servers, &b.cfg, b.events()); err != nil {
		return nil, opError("connect", redactedList(servers), err)
	}
	close(b.dialed)
	if err := b.awaitFirstConnection(ctx); err != nil {
		b.stopHandlers()
		_ = b.t.disconnect(context.Background())
		b.notes.close(b.Server())
		return nil, opError("connect", redactedList(servers), err)
	}
	return b, nil
}

// maxRefusals bounds the 503 replies being sent at once, so that a flood of
// requests to an overloaded subscriber cannot grow goroutines without limit.
const maxRefusals = 64

func newBroker(cfg config) *Broker {
	b := &Broker{
		cfg:       cfg,
		log:       cfg.logger,
		inbox:     cfg.inboxPrefix + "/" + ids.Token() + "/",
		conn:      newConnection(),
		refusals:  make(chan struct{}, maxRefusals),
		dialed:    make(chan struct{}),
		closing:   make(chan struct{}),
		closed:    make(chan struct{}),
		closeDone: make(chan struct{}),
	}
	b.pending.init()
	b.replies.init()
	b.handlers.init()
	b.routes.Store(&routes{})
	b.notes = newStateNotifier(cfg.stateHandler)
	b.handlerCtx, b.stopHandlers = context.WithCancel(context.Background())
	return b
}

// parseURLs parses the servers' URLs, refusing the same server twice.
func parseURLs(rawURLs []string) ([]*url.URL, error) {
	servers := make([]*url.URL, 0, len(rawURLs))
	seen := make(map[string]bool, len(rawURLs))
	for _, raw := range rawURLs {
		u, err := parseURL(raw)
		if err != nil {
			return nil, err
		}
		if seen[u.Host] {
			return nil, fail(ErrInvalidArgument, "broker URL %q: %s is given twice", u.Redacted(), u.Host)
		}
		seen[u.Host] = true
		servers = append(servers, u)
	}
	return servers, nil
}

// redactedList joins the URLs, passwords masked, for messages.
func redactedList(us []*url.URL) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.Redacted()
	}
	return strings.Join(s, ",")
}

// defaultPorts are the ports of URLs that give none, by scheme.
var defaultPorts = map[string]string{
	"mqtt": "1883", "tcp": "1883",
	"mqtts": "8883", "ssl": "8883", "tls": "8883", "mqtt+ssl": "8883", "tcps": "8883",
	"ws": "80", "wss": "443",
}

func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fail(ErrInvalidArgument, "broker URL: %w", err)
	}
	if u.Host == "" {
		return nil, fail(ErrInvalidArgument, "broker URL %q has no host", rawURL)
	}
	if _, ok := defaultPorts[u.Scheme]; !ok {
		return nil, fail(ErrInvalidArgument, "broker URL %q: unknown scheme %q; use mqtt, mqtts, ws or wss", u.Redacted(), u.Scheme)
	}
	if u.Port() == "" {
		u.Host += ":" + defaultPorts[u.Scheme]
	}
	return u, nil
}

// Close shuts the Broker down gracefully, in the order that loses nothing:
// it unsubscribes the handlers and answers requests still arriving with
// [StatusServiceUnavailable], waits for running handlers to finish and send
// their replies, then ends requests still waiting with [ErrClosed] and
// disconnects. If ctx ends first, handler contexts are cancelled and Close
// returns ctx.Err() once the connection is closed. Calling Close again, or
// concurrently, waits for the first call until its own ctx ends, and returns
// nil once the first has finished; every other method then returns
// [ErrClosed].
func (b *Broker) Close(ctx context.Context) error {
	if b.closeStarted.CompareAndSwap(false, true) {
		defer close(b.closeDone)
		return b.shutdown(ctx)
	}
	select {
	case <-b.closeDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Broker) shutdown(ctx context.Context) error {
	b.mu.Lock()
	close(b.closing) // under mu: no subscriber is added after this
	b.mu.Unlock()
	if filters := b.routes.Load().filters(); len(filters) > 0 {
		// Bounded even when ctx is not: a connection that dies under the
		// UNSUBSCRIBE may never answer it.
		uctx, cancel := withDefaultTimeout(ctx, b.cfg.requestTimeout)
		if err := b.t.unsubscribe(uctx, filters...); err != nil {
			b.log.Debug("mqttrpc: unsubscribe on close", "err", err)
		}
		cancel()
	}
	var err error
	select {
	case <-b.tasks.Wait():
	case <-ctx.Done():
		err = ctx.Err()
		b.log.Warn("mqttrpc: close timed out waiting for handlers; cancelling them")
	}
	b.stopHandlers()
	b.handlers.close()
	close(b.closed)
	b.pending.closeAll()
	disconnectCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	// A restore still subscribing must finish first: paho.mqtt.golang's
	// Subscribe, once the connection is closed under it, blocks for its write
	// timeout. The cancelled handler context makes a restore stop soon.
	select {
	case <-b.restores.Wait():
	case <-disconnectCtx.Done():
	}
	if derr := b.t.disconnect(disconnectCtx); derr != nil && err == nil {
		err = derr
	}
	b.notes.close(b.Server())
	return err
}

// unsubscribeLater removes filter at the broker in the background: a
// Subscriber that failed must not leave it subscribed, whether or not its
// caller is still waiting. Close waits for it.
func (b *Broker) unsubscribeLater(filter string) {
	if !b.restores.Add() {
		return
	}
	go func() { // ends when the broker answers, or at the request timeout
		defer b.restores.Done()
		ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.requestTimeout)
		defer cancel()
		if err := b.t.unsubscribe(ctx, filter); err != nil {
			b.log.Debug("mqttrpc: unsubscribing a failed subscriber", "filter", filter, "err", err)
		}
	}()
}

// isClosing reports whether Close has started.
func (b *Broker) isClosing() bool {
	return isClosed(b.closing)
}

// isInbox reports whether name is one of this Broker's reply topics.
func (b *Broker) isInbox(name string) bool {
	return strings.HasPrefix(name, b.inbox)
}
