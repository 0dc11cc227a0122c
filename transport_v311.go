package mqttrpc

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttrpc/mqttrpc/internal/pahostate"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/mqttrpc/mqttrpc/internal/bufconn"
)

// handoffTimeout bounds how long paho.mqtt.golang's Publish and Subscribe
// wait for its writer goroutine to take a packet. The writer only hands the
// packet to the connection, which never makes it wait, so the wait is long
// only on a loaded machine (handOff then tries again, within the caller's
// context) or while the connection is being torn down, when the writer is
// gone: the call then fails with ErrDisconnected instead of waiting out a
// longer bound past its caller's deadline.
const handoffTimeout = 100 * time.Millisecond

// v311 is the MQTT 3.1.1 transport, on paho.mqtt.golang. MQTT 3.1.1 has no
// properties: Response Topic, Correlation Data, Content Type, User Properties
// and Message Expiry are not sent, and arrive empty.
//
// paho's own reconnecting starts at a fixed 1 s and grows on its own terms,
// so the transport reconnects by itself (see keepConnected), with the
// Broker's backoff, as the MQTT 5 transport does through autopaho.
type v311 struct {
	client  mqtt.Client
	ev      events
	conn    atomic.Pointer[bufconn.Conn] // the latest connection dialled
	server  atomic.Pointer[url.URL]      // of the latest connection dialled
	up      atomic.Bool                  // between paho's connect and connection-lost calls
	backoff func(attempt int) time.Duration
	lost    chan struct{} // capacity 1: the connection was lost

	mu      sync.Mutex // guards stopped, so that no Connect starts after disconnect
	stopped bool
	stop    chan struct{} // closed by disconnect
	done    chan struct{} // closed when keepConnected has ended
}

func dialV311(servers []*url.URL, cfg *config, ev events) (transport, error) {
	t := &v311{
		ev:      ev,
		backoff: backoff(cfg.backoffMin, cfg.backoffMax),
		lost:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	stall := stallTimeout(cfg)
	opts := mqtt.NewClientOptions()
	if cfg.sessionExpiry == 0 {
		opts.SetStore(pahostate.DiscardStore{})
	}
	for _, u := range servers {
		opts.AddBroker(u.String()) // paho tries them in this order on every attempt
	}
	opts.SetProtocolVersion(4).
		SetClientID(cfg.clientID).
		SetUsername(cfg.username).
		SetPassword(cfg.password).
		SetTLSConfig(cfg.tls).
		SetKeepAlive(cfg.keepAlive).
		SetConnectTimeout(cfg.connectTimeout).
		// paho blocks a Publish or Subscribe, without a context, until its
		// writer takes the packet: 30 s by default when the connection dies
		// under it. It also sets this as a write deadline, which the
		// connection ignores: it bounds its writes by itself.
		SetWriteTimeout(handoffTimeout).
		// The Broker restores its own subscriptions on every connection, the
		// same way on both versions; a kept session only adds queued messages.
		SetCleanSession(cfg.sessionExpiry == 0).
		SetResumeSubs(false).
		SetAutoReconnect(false). // keepConnected does it
		SetConnectRetry(false).
		// Ordered delivery on paho's goroutine is safe: received never blocks.
		SetOrderMatters(true).
		SetCustomOpenConnectionFn(func(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
			ctx := context.Background()
			if o.ConnectTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.ConnectTimeout)
				defer cancel()
			}
			// Buffered reads (paho reads a byte at a time), gathered writes,
			// and a stalled link holds no caller (see publish).
			c, err := bufconn.Dial(ctx, u, o.TLSConfig, stall)
			if err != nil {
				return nil, err
			}
			t.conn.Store(c)
			t.server.Store(u)
			return c, nil
		}).
		SetDefaultPublishHandler(t.received).
		SetOnConnectHandler(func(mqtt.Client) {
			t.up.Store(true)
			ev.up(t.server.Load())
		}).
		SetConnectionLostHandler(func(mqtt.Client, error) {
			t.up.Store(false) // before the Broker hears of it: see publish
			ev.down()
			select {
			case t.lost <- struct{}{}:
			default:
			}
		})
	t.client = mqtt.NewClient(opts)
	go t.keepConnected() // ends when disconnect is called
	return t, nil
}

// keepConnected connects, and connects again whenever the connection is
// lost: at once, then after each failed attempt with the Broker's backoff
// (the same function autopaho is given on MQTT 5).
func (t *v311) keepConnected() {
	defer close(t.done)
	for attempt := 0; ; attempt++ {
		select {
		case <-time.After(t.backoff(attempt)):
		case <-t.stop:
			return
		}
		tok, ok := t.connect()
		if !ok {
			return
		}
		<-tok.Done() // bounded by the connect timeout
		if err := tok.Error(); err != nil {
			t.ev.connectError(v311ConnectError(err))
			continue
		}
		select {
		case <-t.lost:
			attempt = -1 // the first attempt after a loss comes at once
		case <-t.stop:
			return
		}
	}
}

// connect starts one connection attempt, unless disconnect was called: a
// Connect that began before it is then finished and undone by paho's
// Disconnect, which waits for it.
func (t *v311) connect() (mqtt.Token, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return nil, false
	}
	return t.client.Connect(), true
}

// received converts paho's message and hands it to the Broker's dispatcher.
func (t *v311) received(_ mqtt.Client, msg mqtt.Message) {
	t.ev.message(&Message{
		Topic:  msg.Topic(),
		Body:   msg.Payload(),
		QoS:    msg.Qos(),
		Retain: msg.Retained(),
	})
}

func (t *v311) publish(ctx context.Context, m *Message) error {
	// paho would queue the message while reconnecting and send it after,
	// when a reply's caller has likely given up: on MQTT 3.1.1 it would then
	// answer the next request on that reply topic. Refuse instead, as
	// paho.golang does on MQTT 5. paho still says the connection is open
	// while it calls the connection-lost handler; up is false by then.
	if !t.up.Load() || !t.client.IsConnectionOpen() {
		return ErrDisconnected
	}
	// The connection never makes paho's writer wait, but gathers packets
	// for later; waiting here, within ctx, while the link is backed up
	// keeps what it gathers bounded.
	if c := t.conn.Load(); c != nil {
		if err := c.WaitWritable(ctx); err != nil {
			return linkError(err)
		}
	}
	send := func() mqtt.Token { return t.client.Publish(m.Topic, m.QoS, m.Retain, m.payload()) }
	if m.QoS == 0 {
		return t.handOffQoS0(ctx, send)
	}
	_, err := t.handOff(ctx, send)
	return err
}

// handOffQoS0 hands a QoS 0 PUBLISH to paho without waiting for its token.
// paho completes that token once its writer goroutine, two goroutines away,
// has put the packet in the connection, whose writes never wait and fail
// only once the connection has: a publish at most once learns nothing from
// it that up and the connection's own error do not say. Waiting would cost
// the caller a sleep and a wake-up per publish. A token that paho has
// already ended (not connected, or the handoff timed out) still counts.
func (t *v311) handOffQoS0(ctx context.Context, send func() mqtt.Token) error {
	for {
		tok := send()
		select {
		case <-tok.Done():
		default:
			return nil // paho's writer has the packet
		}
		err := linkError(tok.Error())
		if err == nil || !handoffTimedOut(tok.Error()) || ctx.Err() != nil || !t.client.IsConnectionOpen() {
			return err
		}
	}
}

// handOff calls send, which hands a packet to paho, and waits for its token
// within ctx. paho gives up handing the packet to its writer goroutine after
// handoffTimeout, without sending it; while the connection is open and ctx
// lasts, that is only a busy writer, so handOff tries again. The caller thus
// waits for paho by its own deadline, give or take one handoffTimeout.
func (t *v311) handOff(ctx context.Context, send func() mqtt.Token) (mqtt.Token, error) {
	for {
		tok := send()
		err := await(ctx, tok)
		if err == nil || !handoffTimedOut(tok.Error()) || ctx.Err() != nil || !t.client.IsConnectionOpen() {
			return tok, err
		}
	}
}

// handoffTimedOut reports whether paho gave up handing a packet to its
// writer ("publish was broken by timeout", "subscribe was broken by
// timeout"): it has no sentinel error for it.
func handoffTimedOut(err error) bool {
	return err != nil && strings.HasSuffix(err.Error(), "was broken by timeout")
}

func (t *v311) subscribe(ctx context.Context, subs []filterSpec) []error {
	errs := make([]error, len(subs))
	for start := 0; start < len(subs); start += maxFiltersPerPacket {
		packet := subs[start:min(start+maxFiltersPerPacket, len(subs))]
		t.subscribePacket(ctx, packet, errs[start:])
	}
	return errs
}

// subscribePacket sends subs in one SUBSCRIBE and records each filter's
// outcome in errs.
func (t *v311) subscribePacket(ctx context.Context, subs []filterSpec, errs []error) {
	filters := make(map[string]byte, len(subs))
	for _, s := range subs {
		filters[s.filter] = s.qos
	}
	tok, err := t.handOff(ctx, func() mqtt.Token { return t.client.SubscribeMultiple(filters, nil) }) // nil: messages go to received
	if err != nil {
		for i := range subs {
			errs[i] = err
		}
		return
	}
	codes := tok.(*mqtt.SubscribeToken).Result() // complete: paho writes it no more
	for i, s := range subs {
		if code, ok := codes[s.filter]; !ok || code > 2 { // 0x80, or a code 3.1.1 does not define (mochi sends 0x91)
			errs[i] = fail(ErrRefused, "return code 0x%02x", code)
		}
	}
}

func (t *v311) unsubscribe(ctx context.Context, filters ...string) error {
	return await(ctx, t.client.Unsubscribe(filters...))
}

func (t *v311) disconnect(ctx context.Context) error {
	t.mu.Lock()
	if !t.stopped {
		t.stopped = true
		close(t.stop)
	}
	t.mu.Unlock()
	// Disconnect waits up to quiesce ms for work in flight, and for a
	// connection attempt under way, and blocks meanwhile.
	done := make(chan struct{})
	go func() { // ends when paho has closed the connection and keepConnected has ended
		t.client.Disconnect(100)
		<-t.done
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *v311) properties() bool { return false }

func (t *v311) subscriptionIDs() bool { return false }

// v311ConnectError marks the CONNACK refusals that retrying cannot mend.
func v311ConnectError(err error) error {
	for _, refusal := range []error{
		packets.ErrorRefusedBadProtocolVersion,
		packets.ErrorRefusedIDRejected,
		packets.ErrorRefusedBadUsernameOrPassword,
		packets.ErrorRefusedNotAuthorised,
	} {
		if errors.Is(err, refusal) {
			return failWith(ErrRefused, err)
		}
	}
	return err
}

// await waits for a paho token within ctx, paho's tokens knowing no
// contexts, and names its error (see linkError).
func await(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return linkError(ctx.Err())
	}
	return linkError(tok.Error())
}
