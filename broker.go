package mqttrpc

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	inbox string // "<prefix>/<token>/": request i waits on inbox+<token i>

	pending pendingTable
	subs    atomic.Pointer[[]*Subscription] // copy on write, read by deliver without a lock
	stats   stats
	notes   *stateNotifier // nil without WithStateHandler

	mu          sync.Mutex // guards what follows
	replyTopics map[string]*replyTopic
	conn        connState
	connErr     error // the last failed connection attempt, for Connect's error

	refused    chan struct{} // closed when connecting failed for good: Connect stops waiting
	refuseOnce sync.Once

	handlerCtx   context.Context // parent of every handler's context
	stopHandlers context.CancelFunc
	tasks        taskGroup     // goroutines started by the dispatcher
	refusals     chan struct{} // one token per 503 reply being sent

	dialed    chan struct{} // closed once t is set: events may come before
	closing   chan struct{} // closed when Close starts: no new work is taken
	closed    chan struct{} // closed when Close ends waiting requests
	closeOnce sync.Once
	closeDone chan struct{} // closed when Close has finished
}

// connState tracks the connection and whether its subscriptions are restored.
// ready is closed while both hold; it is replaced when the connection drops.
type connState struct {
	up    bool
	gen   int // counts connections, so a stale restore cannot mark a newer one ready
	ready chan struct{}
	isSet bool // ready is closed
}

// Connect connects to the MQTT broker at rawURL and returns once the
// connection is up and the reply inbox is subscribed. Schemes: mqtt:// and
// tcp:// (default port 1883), mqtts:// and ssl:// (TLS, default port 8883),
// ws:// and wss:// (MQTT 5 only). It gives up when ctx ends or after the
// connect timeout (see [WithConnectTimeout]), whichever comes first.
func Connect(ctx context.Context, rawURL string, opts ...Option) (*Broker, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if cfg.clientID == "" {
		cfg.clientID = "mqttrpc-" + randomToken()
	}
	if err := topic.ValidName(cfg.inboxPrefix); err != nil {
		return nil, fmt.Errorf("%w: inbox prefix %q: %w", ErrInvalidTopic, cfg.inboxPrefix, err)
	}
	b := newBroker(cfg)
	if b.t, err = dial(u, &b.cfg, b.events()); err != nil {
		return nil, err
	}
	close(b.dialed)
	if err := b.awaitFirstConnection(ctx); err != nil {
		b.stopHandlers()
		_ = b.t.disconnect(context.Background())
		b.notes.close()
		return nil, fmt.Errorf("mqttrpc: connect %s: %w", u.Redacted(), err)
	}
	return b, nil
}

// maxRefusals bounds the 503 replies being sent at once, so that a flood of
// requests to an overloaded subscriber cannot grow goroutines without limit.
const maxRefusals = 64

func newBroker(cfg config) *Broker {
	b := &Broker{
		cfg:         cfg,
		log:         cfg.logger,
		inbox:       cfg.inboxPrefix + "/" + randomToken() + "/",
		replyTopics: make(map[string]*replyTopic),
		conn:        connState{ready: make(chan struct{})},
		refusals:    make(chan struct{}, maxRefusals),
		dialed:      make(chan struct{}),
		refused:     make(chan struct{}),
		closing:     make(chan struct{}),
		closed:      make(chan struct{}),
		closeDone:   make(chan struct{}),
	}
	b.pending.init()
	b.subs.Store(new([]*Subscription))
	b.notes = newStateNotifier(cfg.stateHandler)
	b.handlerCtx, b.stopHandlers = context.WithCancel(context.Background())
	return b
}

func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mqttrpc: broker URL: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("mqttrpc: broker URL %q has no host", rawURL)
	}
	if u.Port() == "" {
		port := "1883"
		if u.Scheme == "mqtts" || u.Scheme == "ssl" || u.Scheme == "tls" {
			port = "8883"
		}
		u.Host += ":" + port
	}
	return u, nil
}

func (b *Broker) awaitFirstConnection(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.connectTimeout)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go func() { // ends with awaitFirstConnection
		select {
		case <-b.refused:
			stop(errRefusedForGood)
		case <-ctx.Done():
		}
	}()
	if err := b.awaitReady(ctx); err != nil {
		if cause := context.Cause(ctx); cause == errRefusedForGood {
			err = nil // the refusal itself says it all
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		return errors.Join(err, b.connErr)
	}
	return nil
}

// errRefusedForGood ends Connect's wait once retrying cannot help.
var errRefusedForGood = errors.New("refused for good")

// connectFailed records why connecting failed. A failure that retrying cannot
// mend (credentials, authorization, certificate, a refused reply inbox) ends
// Connect's wait at once; the Broker still retries in the background.
func (b *Broker) connectFailed(err error) {
	b.mu.Lock()
	b.connErr = err
	b.mu.Unlock()
	if permanent(err) {
		b.refuseOnce.Do(func() { close(b.refused) })
	}
}

func permanent(err error) bool {
	var cve *tls.CertificateVerificationError
	return errors.Is(err, ErrRefused) || errors.As(err, &cve)
}

func (b *Broker) events() events {
	return events{
		message:      b.deliver,
		up:           b.connectionUp,
		down:         b.connectionDown,
		connectError: b.connectError,
	}
}

// connectionUp starts restoring the subscriptions of a new connection. It
// runs on the transport's goroutine, which must not block, so the restore
// runs on its own goroutine; it ends when its subscribes do.
func (b *Broker) connectionUp() {
	b.mu.Lock()
	b.conn.up = true
	b.conn.gen++
	gen := b.conn.gen
	b.connErr = nil
	b.mu.Unlock()
	b.log.Info("mqttrpc: connected", "version", b.cfg.version.String(), "client_id", b.cfg.clientID)
	go b.restore(gen)
}

func (b *Broker) connectionDown() {
	b.mu.Lock()
	b.conn.up = false
	wasReady := b.conn.isSet
	if wasReady {
		b.conn.ready = make(chan struct{})
		b.conn.isSet = false
	}
	b.mu.Unlock()
	b.stats.disconnects.Add(1)
	b.log.Warn("mqttrpc: connection lost; reconnecting")
	if wasReady {
		b.setState(StateDisconnected)
	}
}

func (b *Broker) setState(s ConnState) {
	if !b.notes.notify(s) {
		b.log.Warn("mqttrpc: state handler is behind; state change dropped", "state", s.String())
	}
}

func (b *Broker) connectError(err error) {
	b.connectFailed(err)
	b.log.Warn("mqttrpc: connection attempt failed", "err", err)
}

// restore subscribes the reply inbox, every handler and every reply topic on
// connection gen, then marks the Broker ready. The broker session is not
// kept across connections, so this is what makes RPC survive a reconnect.
// It retries while gen is the current connection; a refused handler filter or
// reply topic is logged and skipped, so that one ACL rule does not stop all RPC.
func (b *Broker) restore(gen int) {
	<-b.dialed // the first connection can come up before dial has returned
	for attempt := 0; b.current(gen); attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(b.cfg.backoffMin << min(attempt-1, 6)):
			case <-b.handlerCtx.Done():
				return
			}
		}
		if err := b.subscribeAll(); err != nil {
			b.connectFailed(err)
			b.log.Error("mqttrpc: restoring subscriptions failed", "err", err)
			if permanent(err) {
				return // the inbox is refused: nothing can be answered on this connection
			}
			continue
		}
		b.mu.Lock()
		ready := b.conn.gen == gen && b.conn.up && !b.conn.isSet
		if ready {
			close(b.conn.ready)
			b.conn.isSet = true
		}
		b.mu.Unlock()
		if ready {
			b.setState(StateConnected)
		}
		return
	}
}

// current reports whether gen is the connection that is up now.
func (b *Broker) current(gen int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn.gen == gen && b.conn.up && b.handlerCtx.Err() == nil
}

// subscribeAll subscribes every filter the Broker needs on a connection.
func (b *Broker) subscribeAll() error {
	ctx, cancel := context.WithTimeout(b.handlerCtx, b.cfg.connectTimeout)
	defer cancel()
	for _, s := range b.subscriptions() {
		err := b.t.subscribe(ctx, s.filter, s.qos)
		switch {
		case err == nil:
		case errors.Is(err, ErrRefused) && !s.inbox:
			b.log.Error("mqttrpc: subscription refused; serving the others", "filter", s.filter, "err", err)
		default:
			return fmt.Errorf("subscribe %q: %w", s.filter, err)
		}
	}
	return nil
}

type filterQoS struct {
	filter string
	qos    byte
	inbox  bool
}

// subscriptions lists every filter the Broker needs on a connection.
func (b *Broker) subscriptions() []filterQoS {
	var all []filterQoS
	if b.t.properties() {
		// QoS 2 so that a reply arrives at the QoS its responder chose.
		all = append(all, filterQoS{b.inbox + "+", 2, true})
	}
	for _, s := range *b.subs.Load() {
		all = append(all, filterQoS{s.filter, s.opts.qos, false})
	}
	b.mu.Lock()
	for t := range b.replyTopics {
		all = append(all, filterQoS{t, 2, false})
	}
	b.mu.Unlock()
	return all
}

// awaitReady waits until the Broker is connected with its subscriptions in
// place, so nothing is published that could not be answered.
func (b *Broker) awaitReady(ctx context.Context) error {
	select {
	case <-b.closed: // checked first: a closed Broker may still look ready
		return ErrClosed
	default:
	}
	b.mu.Lock()
	ready := b.conn.ready
	b.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-b.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish publishes body to topic without waiting for any reply: for events,
// and for handlers that reply by themselves. The body is encoded as a
// request's is (see [Broker.Request]). It waits for the connection if it is
// down, and, at QoS 1 and 2, for the broker's acknowledgement; that nobody
// is subscribed is not an error here.
func (b *Broker) Publish(ctx context.Context, topicName string, body any, opts ...PublishOption) error {
	var o publishOptions
	for _, opt := range opts {
		opt.applyPublish(&o)
	}
	m, err := newMessage(topicName, body, o)
	if err != nil {
		return err
	}
	ctx, cancel := b.withDefaultTimeout(ctx)
	defer cancel()
	if err := b.awaitReady(ctx); err != nil {
		return err
	}
	if err := b.t.publish(ctx, m); err != nil && !errors.Is(err, ErrNoResponders) {
		return fmt.Errorf("publish %q: %w", topicName, err)
	}
	return nil
}

// newMessage builds an outgoing message, checking what the caller gave.
func newMessage(topicName string, body any, o publishOptions) (*Message, error) {
	if err := topic.ValidName(topicName); err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidTopic, topicName, err)
	}
	if o.qos > 2 {
		return nil, fmt.Errorf("mqttrpc: invalid QoS %d", o.qos)
	}
	payload, contentType, err := encode(body)
	if err != nil {
		return nil, err
	}
	if o.replyTo != "" {
		if err := topic.ValidName(o.replyTo); err != nil {
			return nil, fmt.Errorf("%w: reply topic %q: %w", ErrInvalidTopic, o.replyTo, err)
		}
	}
	return &Message{
		Topic:         topicName,
		ReplyTo:       o.replyTo,
		Body:          payload,
		ContentType:   contentType,
		CorrelationID: o.correlationID,
		Headers:       o.headers,
		QoS:           o.qos,
		Retain:        o.retain,
	}, nil
}

// withDefaultTimeout applies the Broker's request timeout to a context that
// has no deadline, so no call waits forever.
func (b *Broker) withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.cfg.requestTimeout)
}

// Close shuts the Broker down gracefully, in the order that loses nothing:
// it unsubscribes the handlers and answers requests still arriving with
// [StatusServiceUnavailable], waits for running handlers to finish and send
// their replies, then ends requests still waiting with [ErrClosed] and
// disconnects. If ctx ends first, handler contexts are cancelled and Close
// returns ctx.Err() once the connection is closed. Calling Close again waits
// for the first call and returns nil; every other method then returns
// [ErrClosed].
func (b *Broker) Close(ctx context.Context) error {
	err := ErrClosed
	b.closeOnce.Do(func() {
		err = b.shutdown(ctx)
		close(b.closeDone)
	})
	if err != ErrClosed {
		return err
	}
	select {
	case <-b.closeDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Broker) shutdown(ctx context.Context) error {
	close(b.closing)
	for _, s := range *b.subs.Load() {
		if err := b.t.unsubscribe(ctx, s.filter); err != nil {
			b.log.Debug("mqttrpc: unsubscribe on close", "filter", s.filter, "err", err)
		}
	}
	var err error
	select {
	case <-b.tasks.wait():
	case <-ctx.Done():
		err = ctx.Err()
		b.log.Warn("mqttrpc: close timed out waiting for handlers; cancelling them")
	}
	b.stopHandlers()
	close(b.closed)
	disconnectCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if derr := b.t.disconnect(disconnectCtx); derr != nil && err == nil {
		err = derr
	}
	b.notes.close()
	return err
}

// isClosing reports whether Close has started.
func (b *Broker) isClosing() bool {
	select {
	case <-b.closing:
		return true
	default:
		return false
	}
}

// randomToken returns 64 random bits from crypto/rand as 16 hex digits:
// unguessable, so no other client can predict a reply topic.
func randomToken() string {
	var buf [8]byte
	_, _ = rand.Read(buf[:]) // never fails on supported platforms (Go 1.24+)
	const hex = "0123456789abcdef"
	var s [16]byte
	for i, c := range buf {
		s[2*i], s[2*i+1] = hex[c>>4], hex[c&0xf]
	}
	return string(s[:])
}

// isInbox reports whether name is one of this Broker's reply topics.
func (b *Broker) isInbox(name string) bool {
	return strings.HasPrefix(name, b.inbox)
}
