package mqttrpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/mqttrpc/mqttrpc/internal/bufconn"
)

// v311 is the MQTT 3.1.1 transport, on paho.mqtt.golang. MQTT 3.1.1 has no
// properties: Response Topic, Correlation Data, Content Type, User Properties
// and Message Expiry are not sent, and arrive empty.
type v311 struct {
	client mqtt.Client
	ev     events
	conn   atomic.Pointer[bufconn.Conn] // the latest connection dialled
}

func dialV311(u *url.URL, cfg *config, ev events) (transport, error) {
	if u.Scheme == "ws" || u.Scheme == "wss" {
		return nil, fmt.Errorf("%w: %s:// on MQTT 3.1.1", ErrFeatureNotSupported, u.Scheme)
	}
	t := &v311{ev: ev}
	stall := stallTimeout(cfg)
	opts := mqtt.NewClientOptions().
		AddBroker(u.String()).
		SetProtocolVersion(4).
		SetClientID(cfg.clientID).
		SetUsername(cfg.username).
		SetPassword(cfg.password).
		SetTLSConfig(cfg.tls).
		SetKeepAlive(cfg.keepAlive).
		SetConnectTimeout(cfg.connectTimeout).
		// paho blocks a Publish or Subscribe, without a context, until its
		// writer takes the packet: 30 s by default when the connection dies
		// under it. A request would wait that long past its deadline, so the
		// bound is the request timeout; it also limits each socket write.
		SetWriteTimeout(cfg.requestTimeout).
		// The Broker restores its own subscriptions on every connection, the
		// same way on both versions; a kept session only adds queued messages.
		SetCleanSession(cfg.sessionExpiry == 0).
		SetResumeSubs(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(cfg.backoffMin).
		SetMaxReconnectInterval(cfg.backoffMax).
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
			return c, nil
		}).
		SetDefaultPublishHandler(t.received).
		SetOnConnectHandler(func(mqtt.Client) { ev.up() }).
		SetConnectionLostHandler(func(mqtt.Client, error) { ev.down() }).
		SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
			if f, ok := n.(mqtt.ConnectionNotificationFailed); ok {
				ev.connectError(v311ConnectError(f.Reason))
			}
		})
	t.client = mqtt.NewClient(opts)
	t.client.Connect() // retries in the background; ev.up reports success
	return t, nil
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
	// paho.golang does on MQTT 5.
	if !t.client.IsConnectionOpen() {
		return fmt.Errorf("%w: publish to %q", ErrDisconnected, m.Topic)
	}
	// The connection never makes paho's writer wait, but gathers packets
	// for later; waiting here, within ctx, while the link is backed up
	// keeps what it gathers bounded.
	if c := t.conn.Load(); c != nil {
		if err := c.WaitWritable(ctx); err != nil {
			return linkError(err)
		}
	}
	return await(ctx, t.client.Publish(m.Topic, m.QoS, m.Retain, m.Body))
}

func (t *v311) subscribe(ctx context.Context, subs []subscription) []error {
	errs := make([]error, len(subs))
	for start := 0; start < len(subs); start += maxFiltersPerPacket {
		packet := subs[start:min(start+maxFiltersPerPacket, len(subs))]
		t.subscribePacket(ctx, packet, errs[start:])
	}
	return errs
}

// subscribePacket sends subs in one SUBSCRIBE and records each filter's
// outcome in errs.
func (t *v311) subscribePacket(ctx context.Context, subs []subscription, errs []error) {
	filters := make(map[string]byte, len(subs))
	for _, s := range subs {
		filters[s.filter] = s.qos
	}
	tok := t.client.SubscribeMultiple(filters, nil) // nil: messages go to received
	if err := await(ctx, tok); err != nil {
		for i := range subs {
			errs[i] = err
		}
		return
	}
	codes := tok.(*mqtt.SubscribeToken).Result() // complete: paho writes it no more
	for i, s := range subs {
		if code, ok := codes[s.filter]; !ok || code > 2 { // 0x80, or a code 3.1.1 does not define (mochi sends 0x91)
			errs[i] = fmt.Errorf("%w: subscribe to %q: return code 0x%02x", ErrRefused, s.filter, code)
		}
	}
}

func (t *v311) unsubscribe(ctx context.Context, filters ...string) error {
	return await(ctx, t.client.Unsubscribe(filters...))
}

func (t *v311) disconnect(ctx context.Context) error {
	// Disconnect waits up to quiesce ms for work in flight and blocks meanwhile.
	done := make(chan struct{})
	go func() { // ends when paho has closed the connection
		t.client.Disconnect(100)
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
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	return err
}

// await waits for a paho token within ctx: paho's tokens know no contexts.
func await(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	err := tok.Error()
	if errors.Is(err, mqtt.ErrNotConnected) {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return err
}
